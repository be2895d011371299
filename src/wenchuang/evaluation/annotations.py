"""Benchmark annotations in the AnyWord-3M JSON format, filtered as the AnyText benchmark does.

The file looks like::

    {"data_root": "imgs/",
     "data_list": [{"img_name": "0001.jpg", "caption": "a shop sign that reads *",
                    "annotations": [{"polygon": [[x, y], ...], "text": "...", "language": "Chinese",
                                     "valid": true}]}]}

Rules of the official loader (``eval/anytext_singleGPU.py``): annotations with an empty polygon or
``valid: false`` are dropped, at most 20 lines per image are kept, and every text is cut to its
first 20 characters. Polygons are in the pixels of the benchmark's 512x512 images; an entry may
give ``width``/``height`` when its canvas differs (the scorer rescales to the image it reads).
A ``*`` in a caption is the placeholder of a text and becomes a space in the prompt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from wenchuang.errors import WenchuangError
from wenchuang.prompts import PLACEHOLDER

MAX_LINES = 20
MAX_CHARS = 20
BENCHMARK_SIZE = 512
IMAGE_EXTENSIONS = (".jpg", ".png", ".jpeg", ".webp")


class AnnotationError(WenchuangError, ValueError):
    """The annotation file cannot be read or is not in the AnyWord-3M format."""


@dataclass
class AnnotatedLine:
    text: str
    polygon: list[tuple[float, float]]
    language: str = "unknown"


@dataclass
class Entry:
    img_name: str
    caption: str = ""
    lines: list[AnnotatedLine] = field(default_factory=list)
    width: int = BENCHMARK_SIZE
    height: int = BENCHMARK_SIZE

    @property
    def stem(self) -> str:
        """The name generated images are saved under (``STEM_0.jpg``, ...), as the official scripts do."""
        return self.img_name.split(".")[0]

    @property
    def prompt(self) -> str:
        return self.caption.replace(PLACEHOLDER, " ")


@dataclass
class Benchmark:
    path: Path
    data_root: str
    entries: list[Entry]

    @property
    def line_count(self) -> int:
        return sum(len(e.lines) for e in self.entries)


def _polygon(raw, where: str) -> list[tuple[float, float]]:
    try:
        points = [(float(p[0]), float(p[1])) for p in raw]
    except (TypeError, ValueError, IndexError):
        raise AnnotationError(f"{where}: polygon must be a list of [x, y] points") from None
    if len(points) < 3:
        raise AnnotationError(f"{where}: polygon needs at least 3 points, got {len(points)}")
    return points


def parse_benchmark(data: dict, path: Path | str = "<memory>") -> Benchmark:
    """Build a `Benchmark` from the decoded JSON, applying the official filters."""
    if not isinstance(data, dict) or not isinstance(data.get("data_list"), list):
        raise AnnotationError(f"{path}: expected a JSON object with a 'data_list' list (AnyWord-3M format)")
    entries = []
    for i, item in enumerate(data["data_list"]):
        where = f"{path}: data_list[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("img_name"), str) or not item["img_name"]:
            raise AnnotationError(f"{where}: needs an 'img_name' string")
        lines = []
        for j, ann in enumerate(item.get("annotations", []) or []):
            if not isinstance(ann, dict):
                raise AnnotationError(f"{where}.annotations[{j}]: must be an object")
            if not ann.get("polygon") or ann.get("valid") is False:
                continue
            text = ann.get("text")
            if not isinstance(text, str):
                raise AnnotationError(f"{where}.annotations[{j}]: needs a 'text' string")
            poly = _polygon(ann["polygon"], f"{where}.annotations[{j}]")
            lines.append(AnnotatedLine(text[:MAX_CHARS], poly, str(ann.get("language") or "unknown")))
        entries.append(
            Entry(
                img_name=item["img_name"],
                caption=str(item.get("caption", "") or ""),
                lines=lines[:MAX_LINES],
                width=int(item.get("width", BENCHMARK_SIZE)),
                height=int(item.get("height", BENCHMARK_SIZE)),
            )
        )
    return Benchmark(Path(path), str(data.get("data_root", "") or ""), entries)


def load_benchmark(path: str | Path) -> Benchmark:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnnotationError(f"annotation file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"cannot read annotation file {path}: {exc}") from None
    return parse_benchmark(data, path)


def find_image(directory: Path, stem: str) -> Path | None:
    """``directory/stem.<ext>`` for the first extension that exists, else None."""
    for ext in IMAGE_EXTENSIONS:
        candidate = directory / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
    return None


def data_root_path(benchmark: Benchmark) -> Path:
    """The folder of the original images: ``data_root``, relative to the JSON file unless absolute."""
    root = Path(benchmark.data_root)
    return root if root.is_absolute() else benchmark.path.parent / root


def images_for_entry(benchmark: Benchmark, entry: Entry, images_dir: Path | None) -> list[Path]:
    """The images to score for one entry.

    With ``images_dir`` (generated images): ``STEM_0``, ``STEM_1``, ... as the official generation
    scripts name them (any of .jpg/.png), or ``img_name`` itself when no numbered file exists.
    Without: the original image ``data_root/img_name`` (relative to the JSON file), which measures the
    ceiling the OCR reaches on real pictures.
    """
    if images_dir is None:
        original = data_root_path(benchmark) / entry.img_name
        return [original] if original.is_file() else []
    found = []
    k = 0
    while (path := find_image(images_dir, f"{entry.stem}_{k}")) is not None:
        found.append(path)
        k += 1
    if not found and (images_dir / entry.img_name).is_file():
        found.append(images_dir / entry.img_name)
    return found
