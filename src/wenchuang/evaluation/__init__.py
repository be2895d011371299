"""wenchuang.evaluation"""
