"""Fonts, polygons, glyph rendering and auto layout. No torch here."""
