"""wenchuang.studio"""
