"""Wenchuang Studio: cultural-creative product images whose text is exactly right."""

__version__ = "0.1.0"
