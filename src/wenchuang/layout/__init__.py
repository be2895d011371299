"""Fonts, polygons, glyph rendering and auto layout. No torch here.

- `fonts`: font registry, cmap checks (`resolve_font`, `load_font`, `check_text`);
- `polygons`: `parse_position`, `polygons_from_mask` (official find_polygon), `sort_polygons`
  (official sort priority), `validate_polygon`, `scale_polygon`, `order_points` (the one quad
  ordering rule), `polygon_mask` / `fill_polygon` (the one polygon-to-mask rasteriser);
- `glyphs`: the official AnyText glyph, glyph-line and position images (`build_text_conditions`)
  and the official position revision (`revise_position`);
- `auto`: `auto_layout` for lines given without a polygon.
"""

from wenchuang.layout.auto import auto_layout
from wenchuang.layout.glyphs import (
    TextConditions,
    build_text_conditions,
    draw_glyph_canvas,
    draw_glyph_line,
    draw_position,
    revise_position,
)
from wenchuang.layout.polygons import (
    fill_polygon,
    order_points,
    parse_position,
    polygon_mask,
    polygons_from_mask,
    scale_polygon,
    sort_polygons,
    validate_polygon,
)

__all__ = [
    "TextConditions",
    "auto_layout",
    "build_text_conditions",
    "draw_glyph_canvas",
    "draw_glyph_line",
    "draw_position",
    "fill_polygon",
    "order_points",
    "parse_position",
    "revise_position",
    "polygon_mask",
    "polygons_from_mask",
    "scale_polygon",
    "sort_polygons",
    "validate_polygon",
]
