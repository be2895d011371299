"""What the UI does with its inputs, without Gradio: canvas strokes -> regions, rows -> TextLines,
results -> gallery items, OCR table and debug images. Kept apart from `ui.py` so it is testable."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from wenchuang.errors import RequestError
from wenchuang.images import flatten_to_rgb
from wenchuang.prompts import quoted_texts
from wenchuang.request import DesignResult, TextLine

DRAW_RECTANGLES = "rectangles"
DRAW_STROKES = "strokes"
# the font menu's "no font" entry: the line gets TextLine.font = None (anytext2: no font hint, the
# model's own lettering; the classic engine draws it in its default font)
NO_FONT = "__no_font__"


def editor_parts(value: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """An ImageEditor value -> (background RGB uint8 or None, stroke mask H x W bool or None).

    The editor hands its images over with their alpha (image_mode RGBA); the background is made RGB
    by the same `flatten_to_rgb` as every decoded upload (transparency onto white), so an image gives
    the same pixels here as through the API and the CLI. The mask is the union of the drawing layers
    (anything painted, whatever the colour)."""
    if value is None:
        return None, None
    if isinstance(value, np.ndarray):
        return flatten_to_rgb(value), None
    background = value.get("background")
    layers = [x for x in (value.get("layers") or []) if x is not None]
    bg = flatten_to_rgb(np.asarray(background)) if background is not None else None
    mask = None
    for layer in layers:
        arr = np.asarray(layer)
        painted = (
            arr[..., 3] > 0
            if arr.ndim == 3 and arr.shape[2] == 4
            else (arr.reshape(arr.shape[:2] + (-1,)).max(axis=2) > 0)
        )
        mask = painted if mask is None else (mask | painted)
    if bg is None and mask is not None:
        composite = value.get("composite")
        bg = flatten_to_rgb(np.asarray(composite)) if composite is not None else None
    if bg is not None and mask is not None and mask.shape != bg.shape[:2]:
        raise RequestError("canvas", "the drawing and the image have different sizes; clear the canvas")
    return bg, mask


def oversized_upload(exc: BaseException, max_pixels: int) -> str:
    """The message for an upload Pillow refused as too large (its size warning, made an error by
    `wenchuang serve`, or its hard limit): the pixel count and the studio's limit, no "bomb"."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1))} pixels" if found else "more pixels than allowed"
    return (
        f"image: {size}; at most {max_pixels} ({max_pixels / 1e6:.1f} megapixels): "
        "make the picture smaller and upload it again"
    )


def regions_from_mask(mask: np.ndarray | None, mode: str, priority: str = "top-down") -> list[list[tuple]]:
    """One region per connected stroke (the official find_polygon), in reading order. In rectangle
    mode each region is the upright rectangle around its stroke."""
    if mask is None or not mask.any():
        return []
    from wenchuang.layout.polygons import polygons_from_mask

    polys = polygons_from_mask(mask.astype(np.uint8) * 255, sort_priority=priority)
    polys = [[(float(x), float(y)) for x, y in p] for p in polys]
    if mode == DRAW_RECTANGLES:
        polys = [_bounding_rect(p) for p in polys]
    return polys


def _bounding_rect(poly: list[tuple]) -> list[tuple]:
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def scale_regions(regions: list[list[tuple]], from_size: tuple[int, int], to_size: tuple[int, int]):
    from wenchuang.layout.polygons import scale_polygon

    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    if sx == 1 and sy == 1:
        return regions
    return [scale_polygon(poly, sx, sy) for poly in regions]


def line_font(
    value: str | None,
    row: int,
    known: Collection[str] | None = None,
    image_size: tuple[int, int] | None = None,
) -> str | None:
    """A row's font menu value -> TextLine.font (row counts from 1, for the message).

    `NO_FONT` or nothing -> None; ``mimic`` as it is; a typed ``mimic:x1,y1,x2,y2`` (or 8 numbers of a
    quad) is checked (inside `image_size` = (width, height) when given) and written canonically; with
    `known` given, any other value must be in it."""
    from wenchuang.layout.fonts import MIMIC_FONT, is_mimic_font

    value = (value or "").strip()
    if not value or value == NO_FONT:
        return None
    field = f"line {row} font"
    if value == MIMIC_FONT:
        return value
    if is_mimic_font(value) or value.lower().startswith(MIMIC_FONT + ":"):
        from wenchuang.layout.polygons import parse_position

        region = parse_position(value[len(MIMIC_FONT) + 1 :], field_name=field)
        if image_size is not None:
            from wenchuang.request import check_polygon

            check_polygon(region, image_size[0], image_size[1], field)
        (x1, y1), (x2, y2) = region[0], region[2]
        if region == [(x1, y1), (x2, y1), (x2, y2), (x1, y2)] and x2 > x1 and y2 > y1:
            numbers = [*region[0], *region[2]]  # a rectangle: x1,y1,x2,y2
        else:
            numbers = [c for point in region for c in point]
        return MIMIC_FONT + ":" + ",".join(f"{v:g}" for v in numbers)
    if known is not None and value not in known:
        raise RequestError(
            field,
            f"unknown font {value!r}: pick one from the menu, or type mimic:x1,y1,x2,y2 (edit) to imitate "
            "the lettering inside that region of the uploaded picture",
        )
    return value


def lines_from_rows(
    texts: list[str],
    fonts: list[str | None],
    colors: list[str | None],
    regions: list[list[tuple]],
    prompt: str = "",
    default_font: str | None = None,
    known_fonts: Collection[str] | None = None,
    image_size: tuple[int, int] | None = None,
) -> list[TextLine]:
    """Rows of the UI -> TextLines; line i goes into region i (regions are in reading order).

    With no text typed, the texts in quotes inside the prompt are used (the AnyText convention). Lines
    beyond the drawn regions get none (the engine places them); more regions than lines is an error.
    A row's font goes through `line_font`: an empty menu takes `default_font`, the "no font" entry
    (`NO_FONT`) gives None whatever the default."""
    rows = [(t.strip(), f, c) for t, f, c in zip(texts, fonts, colors) if t and t.strip()]
    if not rows:
        rows = [(t, None, None) for t in quoted_texts(prompt)]
    if len(regions) > len(rows):
        raise RequestError(
            "lines",
            f"{len(regions)} regions are drawn but only {len(rows)} text line(s) given; "
            "add text or clear the extra strokes",
        )
    lines = []
    for i, (text, font, color) in enumerate(rows):
        chosen = font if font == NO_FONT else (font or default_font)
        lines.append(
            TextLine(
                text=text,
                polygon=regions[i] if i < len(regions) else None,
                font=line_font(chosen, i + 1, known_fonts, image_size),
                color=_hex(color),
            )
        )
    return lines


def _hex(color: str | None) -> str | None:
    """Gradio's ColorPicker gives '#rrggbb' or 'rgba(r, g, b, a)'; the request wants #RRGGBB."""
    if not color:
        return None
    color = color.strip()
    if color.startswith("rgb"):
        nums = color[color.find("(") + 1 : color.find(")")].split(",")
        r, g, b = (int(round(float(v))) for v in nums[:3])
        return f"#{r:02x}{g:02x}{b:02x}"
    return color


def ocr_markdown(result: DesignResult, labels: dict[str, str]) -> str:
    """Per image, per line: ✓/✗, what was expected and what the OCR read; with self-correction, a
    column of the tries (what each attempt read, ✓/✗)."""
    if not result.readings or not any(result.readings):
        return labels["no_ocr"]
    corrected = result.extra.get("self_correct", {}).get("images", [])
    tries_head = f" {labels['tries']} |" if corrected else ""
    out = [
        f"| {labels['image']} | {labels['line']} | {labels['expected']} | {labels['read']} | "
        f"{labels['confidence']} | |" + tries_head,
        "|---|---|---|---|---|---|" + ("---|" if corrected else ""),
    ]
    for i, per_image in enumerate(result.readings):
        for j, r in enumerate(per_image):
            mark = "✓" if r.passed else "✗"
            expected = r.expected or labels["erased"]
            row = f"| {i + 1} | {j + 1} | {_md(expected)} | {_md(r.read)} | {r.confidence:.2f} | {mark} |"
            if corrected:
                row += f" {_tries(corrected[i] if i < len(corrected) else {}, j)} |"
            out.append(row)
    return "\n".join(out)


def _tries(image_record: dict, line: int) -> str:
    """``2: 文创工火室 ✗ → 文创工作室 ✓`` — the number of attempts and what each read."""
    lines = image_record.get("lines", [])
    if line >= len(lines):
        return ""
    attempts = lines[line].get("attempts", [])
    trail = " → ".join(
        f"{_md(a.get('read', a.get('error', '')))} {'✓' if a.get('passed') else '✗'}" for a in attempts
    )
    return f"{len(attempts)}: {trail}"


def _md(text: str) -> str:
    return (text or "∅").replace("|", "\\|").replace("<", "&lt;")


def debug_images(result: DesignResult) -> list[tuple[np.ndarray, str]]:
    """The engine's debug images (glyphs, positions, masked input, ...) as displayable RGB."""
    out = []
    for name, arr in result.debug.items():
        a = np.asarray(arr)
        if a.ndim not in (2, 3) or a.size == 0:
            continue
        if a.dtype != np.uint8:
            a = a.astype(np.float32)
            a = a * 255.0 if a.max(initial=0) <= 1.0 else a
            a = np.clip(a, 0, 255).astype(np.uint8)
        if a.ndim == 3 and a.shape[2] not in (3, 4):
            a = a.max(axis=2)
        out.append((a, name))
    return out


def blank_canvas(width: int, height: int) -> dict[str, Any]:
    return {"background": np.full((height, width, 3), 255, np.uint8), "layers": [], "composite": None}


def canvas_with_boxes(width: int, height: int, polygons: list[list[tuple]]) -> dict[str, Any]:
    """A blank canvas with the regions pre-drawn on a layer (how an example shows its layout)."""
    from PIL import Image, ImageDraw

    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for poly in polygons:
        draw.polygon([tuple(p) for p in poly], fill=(255, 59, 48, 150))
    bg = np.full((height, width, 3), 255, np.uint8)
    return {"background": bg, "layers": [np.asarray(layer)], "composite": None}


# -- the English prompt for the model (AnyText's text encoder reads English only) ---------------
_TRANSLATION_LABELS = {"model": "translated by {}", "glossary_only": "glossary only", "terms": "glossary"}


def typed_lines(texts: Sequence[str | None]) -> list[str] | None:
    """The line texts typed in the rows (explicit lines), or None when there are none (then the
    quotes in the prompt give the lines)."""
    typed = [t.strip() for t in texts if t and t.strip()]
    return typed or None


def translate_for_ui(
    prompt: str | None, line_texts: Sequence[str | None] = (), labels: dict[str, str] | None = None
) -> tuple[str, str]:
    """The prompt -> (English prompt for the model with one '*' per line, notes as Markdown).

    The quoted lines are never translated; the notes say which translator was used (or that the
    glossary alone translated), which glossary terms were applied, and what parsing changed."""
    prompt = (prompt or "").strip()
    if not prompt:
        return "", ""
    from wenchuang.prompts import prompt_for_model

    lab = {**_TRANSLATION_LABELS, **(labels or {})}
    parsed, translation = prompt_for_model(prompt, typed_lines(line_texts))
    notes = [lab["model"].format(translation.model) if translation.model else lab["glossary_only"]]
    notes += [*parsed.notes, *translation.notes]
    if translation.terms:
        notes.append(f"{lab['terms']}: " + "; ".join(f"{zh} → {en}" for zh, en in translation.terms))
    return translation.text, "\n".join(f"- {_md(n)}" for n in notes)


def auto_translation(
    prompt: str | None,
    current: str | None,
    last_auto: str | None,
    line_texts: Sequence[str | None] = (),
    labels: dict[str, str] | None = None,
) -> tuple[str, str, str] | None:
    """Fill the English box when the prompt changes, unless the user has edited it.

    Returns (English prompt, notes, the new automatic text) or None to leave the box alone."""
    current = (current or "").strip()
    if current and current != (last_auto or "").strip():
        return None  # the user's own English prompt: only the Translate button replaces it
    text, notes = translate_for_ui(prompt, line_texts, labels)
    return text, notes, text


def translated_field(value: str | None) -> str | None:
    """The English box -> DesignRequest.translated_prompt: empty means the engine translates."""
    value = (value or "").strip()
    return value or None
