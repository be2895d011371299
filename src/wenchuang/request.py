"""The one vocabulary that crosses every layer: `TextLine`, `DesignRequest`, `DesignResult`.

Limits follow the official AnyText demo (v1.1): at most 20 characters per line, at most 8 lines
(the demo's box count), image sides 256-768 in steps of 64, 1-12 images, 1-100 steps, guidance
0.1-30, strength 0-2. Every violation raises one `RequestError` naming the field and the limit.

No torch and no model code here: the UI and the classic engine import this module cheaply.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from wenchuang.errors import RequestError

# --- limits (official AnyText demo) -------------------------------------------------------------
MAX_LINES = 8
MAX_CHARS_PER_LINE = 20
MIN_SIDE = 256
MAX_SIDE = 768
SIDE_MULTIPLE = 64
MAX_IMAGE_COUNT = 12
MAX_STEPS = 100
MIN_GUIDANCE, MAX_GUIDANCE = 0.1, 30.0
MIN_STRENGTH, MAX_STRENGTH = 0.0, 2.0
MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARS = 2000
MIN_POLYGON_SIDE = 8  # pixels: the shorter side of a region's rotated rectangle
MAX_INPUT_PIXELS = 60_000_000  # a base image (camera photos); engines work on at most 4096x4096 of it
MAX_SELF_CORRECT = 10  # rounds of OCR-checked repair of wrong lines (wenchuang.engines.self_correct)

# --- samplers of the model engines (wenchuang.anytext.schedulers builds them) -------------------
# name -> default step count. "ddim" is the official sampler; "lcm" and "tcd" need a few-step LoRA.
SAMPLER_STEPS = {
    "ddim": 20,
    "dpmpp_2m": 10,
    "unipc": 10,
    "euler": 20,
    "ddim_trailing": 8,
    "lcm": 4,
    "tcd": 4,
}
SAMPLERS = tuple(SAMPLER_STEPS)
DEFAULT_SAMPLER = "ddim"


def default_steps(sampler: str) -> int:
    """The step count a sampler is used with when none is given."""
    if sampler not in SAMPLER_STEPS:
        raise RequestError("sampler", f"must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    return SAMPLER_STEPS[sampler]

# --- official defaults --------------------------------------------------------------------------
DEFAULT_EXTRA_PROMPT = (
    "best quality, extremely detailed,4k, HD, supper legible text,  clear text edges,  clear strokes,"
    " neat writing, no watermarks"
)
DEFAULT_NEGATIVE_PROMPT = (
    "low-res, bad anatomy, extra digit, fewer digits, cropped, worst quality, low quality, watermark,"
    " unreadable text, messy words, distorted text, disorganized writing, advertising picture"
)

Mode = Literal["generate", "edit"]
SortPriority = Literal["top-down", "left-right"]
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×*]\s*(\d+)\s*$")

Point = tuple[float, float]


def parse_size(text: str, field_name: str = "size") -> tuple[int, int]:
    """Parse ``"512x768"`` (width x height) and check it against the limits."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise RequestError(field_name, f"expected WIDTHxHEIGHT such as 512x512, got {text!r}")
    width, height = int(m.group(1)), int(m.group(2))
    check_side(width, "width")
    check_side(height, "height")
    return width, height


def check_side(value: int, field_name: str) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise RequestError(field_name, f"must be a whole number of pixels, got {value!r}")
    if value < MIN_SIDE or value > MAX_SIDE:
        raise RequestError(field_name, f"must be between {MIN_SIDE} and {MAX_SIDE} pixels, got {value}")
    if value % SIDE_MULTIPLE:
        raise RequestError(field_name, f"must be a multiple of {SIDE_MULTIPLE}, got {value}")


def polygon_area(points: list[Point] | np.ndarray) -> float:
    """Unsigned area (shoelace formula)."""
    pts = np.asarray(points, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def check_polygon(points: Any, width: int | None, height: int | None, field_name: str) -> list[Point]:
    """Validate a polygon (4+ finite points, inside the canvas, not degenerate); return it as floats."""
    try:
        pts = [(float(p[0]), float(p[1])) for p in points]
    except (TypeError, ValueError, IndexError, KeyError):
        raise RequestError(field_name, "must be a list of [x, y] points") from None
    if len(pts) < 4:
        raise RequestError(field_name, f"needs at least 4 points, got {len(pts)}")
    if not all(math.isfinite(v) for p in pts for v in p):
        raise RequestError(field_name, "points must be finite numbers")
    if width is not None and height is not None:
        for x, y in pts:
            if x < 0 or y < 0 or x > width or y > height:
                raise RequestError(
                    field_name, f"point ({x:g}, {y:g}) lies outside the {width}x{height} image"
                )
    arr = np.asarray(pts, dtype=np.float32)
    area = polygon_area(arr)
    # shorter side of the minimum-area rectangle, without OpenCV: area / longest extent
    extent = max(float(np.ptp(arr[:, 0])), float(np.ptp(arr[:, 1])), 1e-6)
    diag = math.hypot(float(np.ptp(arr[:, 0])), float(np.ptp(arr[:, 1])))
    if area < 1.0 or area / max(diag, extent) < MIN_POLYGON_SIDE / 2:
        raise RequestError(
            field_name,
            f"is degenerate or too small (area {area:.0f} px²; regions need a side of at least "
            f"{MIN_POLYGON_SIDE} px)",
        )
    return pts


@dataclass
class TextLine:
    """One line of text and where it goes.

    `polygon` is 4+ points in image pixels (clockwise or not), or None to let the layout place it.
    `font` is a font name from the registry or a path to a TTF/OTF/TTC file; `color` is ``#RRGGBB``.
    """

    text: str
    polygon: list[Point] | None = None
    font: str | None = None
    color: str | None = None

    def validate(self, index: int, width: int | None = None, height: int | None = None) -> TextLine:
        name = f"lines[{index}]"
        if not isinstance(self.text, str):
            raise RequestError(f"{name}.text", "must be a string")
        if not self.text.strip():
            raise RequestError(f"{name}.text", "is empty")
        if "\n" in self.text or "\r" in self.text:
            raise RequestError(f"{name}.text", "must be a single line (no line breaks)")
        if len(self.text) > MAX_CHARS_PER_LINE:
            raise RequestError(
                f"{name}.text",
                f"has {len(self.text)} characters; at most {MAX_CHARS_PER_LINE} per line "
                f"(split it into several lines)",
            )
        if self.polygon is not None:
            self.polygon = check_polygon(self.polygon, width, height, f"{name}.polygon")
        if self.color is not None and not _COLOR_RE.match(str(self.color)):
            raise RequestError(f"{name}.color", f"must look like #RRGGBB, got {self.color!r}")
        if self.font is not None and (not isinstance(self.font, str) or not self.font.strip()):
            raise RequestError(f"{name}.font", "must be a font name or a font file path")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.polygon is not None:
            d["polygon"] = [[round(x, 2), round(y, 2)] for x, y in self.polygon]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextLine:
        if not isinstance(data, dict):
            raise RequestError("lines", "each line must be an object with a 'text' field")
        unknown = set(data) - {"text", "polygon", "font", "color"}
        if unknown:
            raise RequestError("lines", f"unknown field(s) {sorted(unknown)}")
        poly = data.get("polygon")
        return cls(
            text=data.get("text", ""),
            polygon=[tuple(p) for p in poly] if poly is not None else None,
            font=data.get("font"),
            color=data.get("color"),
        )


@dataclass
class DesignRequest:
    """Everything needed to make (or edit) one batch of images.

    Generate: `lines` are drawn into a new `width` x `height` image (over `image` when given).
    Edit: `image` is the uploaded picture (H x W x 3 uint8 RGB); `lines` are new text for their
    polygons; `remove_regions` (polygons) and `mask` (H x W, nonzero = erase) mark text to erase;
    `remove_all_text` erases all text a detector finds.
    """

    mode: Mode = "generate"
    prompt: str = ""
    lines: list[TextLine] = field(default_factory=list)
    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    remove_regions: list[list[Point]] = field(default_factory=list)
    remove_all_text: bool = False
    image_count: int = 1
    steps: int = 20
    guidance_scale: float = 9.0
    strength: float = 1.0
    eta: float = 0.0
    seed: int = -1
    width: int = 512
    height: int = 512
    extra_prompt: str = DEFAULT_EXTRA_PROMPT
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    sort_priority: SortPriority = "top-down"
    revise_positions: bool = False
    keep_unmasked: bool = True
    # English prompt for the model, as shown (and possibly edited) by the user; None = translate
    # `prompt` automatically where it is Chinese (wenchuang.prompts)
    translated_prompt: str | None = None
    # rounds of OCR-checked repair of the lines read wrong (0 = none; wenchuang.engines.self_correct)
    self_correct: int = 0
    # sampler of the model engines (SAMPLERS); the classic engine ignores it
    sampler: str = DEFAULT_SAMPLER

    # ------------------------------------------------------------------ validation
    def validate(self) -> DesignRequest:
        """Check every field; raise one `RequestError` for the first problem. Returns self."""
        if self.mode not in ("generate", "edit"):
            raise RequestError("mode", f"must be 'generate' or 'edit', got {self.mode!r}")
        if not isinstance(self.prompt, str):
            raise RequestError("prompt", "must be a string")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise RequestError("prompt", f"is {len(self.prompt)} characters long; at most {MAX_PROMPT_CHARS}")
        if self.translated_prompt is not None and (
            not isinstance(self.translated_prompt, str) or len(self.translated_prompt) > MAX_PROMPT_CHARS
        ):
            raise RequestError(
                "translated_prompt", f"must be a string of at most {MAX_PROMPT_CHARS} characters"
            )
        for name in ("extra_prompt", "negative_prompt"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_PROMPT_CHARS:
                raise RequestError(name, f"must be a string of at most {MAX_PROMPT_CHARS} characters")
        self._check_int("image_count", 1, MAX_IMAGE_COUNT)
        self._check_int("steps", 1, MAX_STEPS)
        self._check_int("seed", -1, MAX_SEED)
        self._check_int("self_correct", 0, MAX_SELF_CORRECT)
        self._check_float("guidance_scale", MIN_GUIDANCE, MAX_GUIDANCE)
        self._check_float("strength", MIN_STRENGTH, MAX_STRENGTH)
        self._check_float("eta", 0.0, 1.0)
        if self.sampler not in SAMPLERS:
            raise RequestError("sampler", f"must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.sort_priority not in ("top-down", "left-right"):
            raise RequestError(
                "sort_priority", f"must be 'top-down' or 'left-right', got {self.sort_priority!r}"
            )

        canvas_w, canvas_h = self.width, self.height
        if self.mode == "generate":
            check_side(self.width, "width")
            check_side(self.height, "height")
            if self.image is not None:
                self._check_image()
                canvas_h, canvas_w = self.image.shape[:2]
        else:
            if self.image is None:
                raise RequestError("image", "edit mode needs the image to edit")
            self._check_image()
            canvas_h, canvas_w = self.image.shape[:2]
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.ndim == 3:
                mask = mask.max(axis=2)
            if mask.ndim != 2 or mask.shape != (canvas_h, canvas_w):
                raise RequestError(
                    "mask", f"must be {canvas_w}x{canvas_h} like the image, got shape {mask.shape}"
                )
            self.mask = mask

        if not isinstance(self.lines, list):
            raise RequestError("lines", "must be a list")
        if len(self.lines) > MAX_LINES:
            raise RequestError("lines", f"has {len(self.lines)} lines; at most {MAX_LINES} per image")
        for i, line in enumerate(self.lines):
            if not isinstance(line, TextLine):
                raise RequestError(f"lines[{i}]", "must be a TextLine")
            line.validate(i, canvas_w, canvas_h)
        self.remove_regions = [
            check_polygon(p, canvas_w, canvas_h, f"remove_regions[{i}]")
            for i, p in enumerate(self.remove_regions)
        ]
        if self.mode == "generate" and not self.lines and not self.prompt.strip():
            raise RequestError("lines", "nothing to do: give a prompt or at least one text line")
        if self.mode == "edit" and not (
            self.lines or self.remove_regions or self.remove_all_text or self.mask is not None
        ):
            raise RequestError(
                "lines", "nothing to edit: give new text lines, regions to remove, a mask, or remove_all_text"
            )
        return self

    def _check_int(self, name: str, low: int, high: int) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise RequestError(name, f"must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise RequestError(name, f"must be between {low} and {high}, got {value}")

    def _check_float(self, name: str, low: float, high: float) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise RequestError(name, f"must be a number, got {value!r}")
        if not math.isfinite(float(value)) or not low <= float(value) <= high:
            raise RequestError(name, f"must be between {low:g} and {high:g}, got {value}")

    def _check_image(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise RequestError(
                "image", "must be an H x W x 3 uint8 RGB array (load it with wenchuang.images)"
            )
        h, w = img.shape[:2]
        if h < 16 or w < 16:
            raise RequestError("image", f"is too small ({w}x{h}); at least 16x16 pixels")
        if h * w > MAX_INPUT_PIXELS:
            raise RequestError("image", f"has {w}x{h} pixels; at most {MAX_INPUT_PIXELS} pixels in all")

    # ------------------------------------------------------------------ helpers
    @property
    def canvas_size(self) -> tuple[int, int]:
        """(width, height) of the image the lines' polygons refer to."""
        if self.image is not None:
            return int(self.image.shape[1]), int(self.image.shape[0])
        return self.width, self.height

    def resolved_seeds(self) -> list[int]:
        """One seed per image: `seed`, `seed+1`, ... (a random base when seed is -1)."""
        base = self.seed if self.seed >= 0 else random.SystemRandom().randint(0, 99_999_999)
        return [(base + i) % (MAX_SEED + 1) for i in range(self.image_count)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (images are summarised by their size, not embedded)."""
        d: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key == "lines":
                d[key] = [line.to_dict() for line in value]
            elif key in ("image", "mask"):
                d[key] = None if value is None else {"shape": list(np.asarray(value).shape)}
            elif key == "remove_regions":
                d[key] = [[[round(x, 2), round(y, 2)] for x, y in poly] for poly in value]
            else:
                d[key] = value.item() if isinstance(value, np.generic) else value
        return d

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], image: np.ndarray | None = None, mask: np.ndarray | None = None
    ) -> DesignRequest:
        """Build from JSON fields (e.g. the HTTP API or saved metadata); images are passed separately."""
        if not isinstance(data, dict):
            raise RequestError("request", "must be a JSON object")
        allowed = set(cls.__dataclass_fields__) - {"image", "mask"}
        unknown = set(data) - allowed - {"image", "mask"}
        if unknown:
            raise RequestError("request", f"unknown field(s) {sorted(unknown)}")
        kwargs = {k: v for k, v in data.items() if k in allowed}
        lines = kwargs.get("lines", [])
        if not isinstance(lines, list):
            raise RequestError("lines", "must be a list")
        kwargs["lines"] = [TextLine.from_dict(x) for x in lines]
        regions = kwargs.get("remove_regions", [])
        if not isinstance(regions, list):
            raise RequestError("remove_regions", "must be a list of polygons")
        kwargs["remove_regions"] = [[tuple(p) for p in poly] for poly in regions]
        if "sampler" in kwargs and "steps" not in kwargs and kwargs["sampler"] in SAMPLER_STEPS:
            kwargs["steps"] = SAMPLER_STEPS[kwargs["sampler"]]  # a sampler without steps: its own default
        return cls(image=image, mask=mask, **kwargs)


@dataclass
class LineReading:
    """What the OCR read back for one line of one result image."""

    expected: str
    read: str
    confidence: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DesignResult:
    """Images plus everything needed to check and reproduce them."""

    images: list[np.ndarray]
    seeds: list[int]
    request: DesignRequest
    engine: str
    model: str | None = None
    readings: list[list[LineReading]] = field(default_factory=list)  # [image][line]
    debug: dict[str, np.ndarray] = field(default_factory=dict)  # glyphs, positions, masked input, ...
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. translated prompt, resized size

    def metadata(self, index: int) -> dict[str, Any]:
        """JSON-safe metadata of image `index`: request, seed, engine, model, OCR readings, timings;
        with self-correction, that image's record of attempts under ``self_correct``."""
        extra = dict(self.extra)
        correction = extra.pop("self_correct", None)
        meta = {
            "request": self.request.to_dict(),
            "seed": self.seeds[index],
            "engine": self.engine,
            "model": self.model,
            "readings": [r.to_dict() for r in self.readings[index]] if index < len(self.readings) else [],
            "timings": dict(self.timings),
            "warnings": list(self.warnings),
            "extra": extra,
            "size": [int(self.images[index].shape[1]), int(self.images[index].shape[0])],
        }
        if correction is not None:
            images = correction.get("images", [])
            meta["self_correct"] = {
                **{k: v for k, v in correction.items() if k != "images"},
                **(images[index] if index < len(images) else {}),
            }
        return meta

    @property
    def all_lines_passed(self) -> bool:
        return all(r.passed for per_image in self.readings for r in per_image)
