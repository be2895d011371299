"""WD14-style image tagger (ONNX) for kohya-style captions.

A WD14 tagger (SmilingWolf's ``wd-*-tagger`` models) is an ONNX image classifier: input
``(N, S, S, 3)`` float32 BGR pixels in 0..255, the image padded to a square with white and resized
to S (448 for the published models); output ``(N, tags)`` probabilities. ``selected_tags.csv``
names the tags (columns ``tag_id,name,category,count``; category 9 = rating, 4 = character,
0 = general).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from wenchuang.errors import ModelError

RATING, GENERAL, CHARACTER = 9, 0, 4
DEFAULT_SIZE = 448


@dataclass(frozen=True)
class Tag:
    name: str
    category: int


def read_tags(csv_path: str | Path) -> list[Tag]:
    with open(csv_path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "name" not in rows[0] or "category" not in rows[0]:
        raise ModelError(f"{csv_path}: expected a selected_tags.csv with 'name' and 'category' columns")
    return [Tag(row["name"], int(row["category"])) for row in rows]


def resolve_tagger_files(source: str | Path) -> tuple[Path, Path]:
    """(model.onnx, selected_tags.csv) from a folder, an .onnx file (csv beside it) or a hub repo id."""
    path = Path(source)
    if path.is_dir():
        model, tags = path / "model.onnx", path / "selected_tags.csv"
    elif path.suffix == ".onnx" and path.is_file():
        model, tags = path, path.with_name("selected_tags.csv")
    elif not path.exists() and str(source).count("/") == 1:
        from huggingface_hub import hf_hub_download

        try:
            model = Path(hf_hub_download(str(source), "model.onnx"))
            tags = Path(hf_hub_download(str(source), "selected_tags.csv"))
        except Exception as exc:  # offline, unknown repo, no such file
            raise ModelError(
                f"cannot get tagger {source!r} from the hub: {type(exc).__name__}: {exc}"
            ) from None
    else:
        raise ModelError(f"tagger {source!r}: not a folder, an .onnx file or a hub repo id")
    for needed in (model, tags):
        if not needed.is_file():
            raise ModelError(f"tagger {source!r}: {needed.name} not found")
    return model, tags


class WD14Tagger:
    def __init__(
        self,
        source: str | Path,
        general_threshold: float = 0.35,
        character_threshold: float = 0.85,
        keep_underscores: bool = False,
    ):
        import onnxruntime as ort

        model_path, tags_path = resolve_tagger_files(source)
        self.tags = read_tags(tags_path)
        from wenchuang.ocr import ort_threads

        options = ort.SessionOptions()
        options.intra_op_num_threads = ort_threads()
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"cannot load tagger model {model_path}: {exc}") from None
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        side = model_input.shape[1]
        self.size = side if isinstance(side, int) else DEFAULT_SIZE
        self.general_threshold = general_threshold
        self.character_threshold = character_threshold
        self.keep_underscores = keep_underscores

    def preprocess(self, image_rgb: np.ndarray) -> np.ndarray:
        h, w = image_rgb.shape[:2]
        side = max(h, w)
        canvas = np.full((side, side, 3), 255, np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        canvas[top : top + h, left : left + w] = image_rgb
        interpolation = cv2.INTER_AREA if side > self.size else cv2.INTER_CUBIC
        resized = cv2.resize(canvas, (self.size, self.size), interpolation=interpolation)
        return resized[:, :, ::-1].astype(np.float32)  # BGR, 0..255

    def probabilities(self, image_rgb: np.ndarray) -> np.ndarray:
        batch = self.preprocess(image_rgb)[None]
        probs = self.session.run(None, {self.input_name: batch})[0][0]
        if probs.shape[0] != len(self.tags):
            raise ModelError(
                f"tagger outputs {probs.shape[0]} scores but selected_tags.csv has {len(self.tags)}"
            )
        return probs

    def tag(self, image_rgb: np.ndarray) -> list[tuple[str, float]]:
        """Character then general tags above their thresholds, each group by falling probability."""
        probs = self.probabilities(image_rgb)
        chosen: list[tuple[int, str, float]] = []
        for tag, p in zip(self.tags, probs.tolist()):
            if tag.category == CHARACTER and p >= self.character_threshold:
                chosen.append((0, tag.name, p))
            elif tag.category == GENERAL and p >= self.general_threshold:
                chosen.append((1, tag.name, p))
        chosen.sort(key=lambda item: (item[0], -item[2]))
        names = [(name if self.keep_underscores else name.replace("_", " "), p) for _, name, p in chosen]
        return names

    def caption(self, image_rgb: np.ndarray, trigger: str = "") -> str:
        tags = [name for name, _ in self.tag(image_rgb)]
        return ", ".join(([trigger] if trigger else []) + tags)
