"""wenchuang.training"""
