"""OCR metrics as the AnyText benchmark defines them (``eval/eval_dgocr.py``).

For every annotated line of every generated image the benchmark compares the recognised text with
the ground truth in two ways:

- **sentence accuracy**: 1 when the recognised string equals the ground truth exactly, else 0
  (raw strings, no normalisation at all);
- **NED** (normalised edit distance, reported as a similarity): ``1 - lev(p, g) / (max(|p|, |g|) + 1e-5)``,
  computed on character *ids* of the recogniser's dictionary. Characters that are not in the
  dictionary, and the space, all map to one shared id (the dictionary's last entry), so
  "A B" and "A?B" compare equal when "?" is not in the dictionary.

The ground truth itself is cut to 20 characters and at most 20 lines per image are scored
(see `wenchuang.evaluation.annotations`). Scores are means over lines: per image, per language,
and overall (the benchmark's headline numbers are the overall means over all lines of all images).
"""

from __future__ import annotations

import functools
import string
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

NED_EPSILON = 1e-5  # the benchmark's denominator guard
UNKNOWN = "\x00"  # the shared id of space and of characters outside the dictionary


def levenshtein(a: Iterable, b: Iterable) -> int:
    """Edit distance (insertions, deletions, substitutions, each costing 1) between two sequences."""
    a, b = list(a), list(b)
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, item_a in enumerate(a, start=1):
        current = [i]
        for j, item_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (item_a != item_b))
            )
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class Charset:
    """The recogniser's dictionary, used to normalise characters before the edit distance."""

    name: str
    characters: frozenset[str]

    def normalize(self, text: str) -> str:
        """Keep dictionary characters; turn space and every other character into one shared symbol."""
        return "".join(c if (c in self.characters and c != " ") else UNKNOWN for c in text)


def _rapidocr_dictionary() -> list[str]:
    """The 6,623-character PP-OCR Chinese dictionary (ppocr_keys_v1) stored in rapidocr's rec model."""
    import onnxruntime as ort  # noqa: PLC0415 - only needed for this charset
    import rapidocr_onnxruntime  # noqa: PLC0415

    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    candidates = sorted(models.glob("*rec*.onnx"))
    if not candidates:
        raise FileNotFoundError(f"no recognition model found in {models}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(candidates[0]), options, providers=["CPUExecutionProvider"])
    return session.get_modelmeta().custom_metadata_map["character"].splitlines()


@functools.lru_cache(maxsize=4)
def get_charset(name: str = "ch") -> Charset:
    """``"ch"``: PP-OCR's Chinese dictionary (the benchmark's choice for the Chinese set, wukong);
    ``"en"``: the printable ASCII of PaddleOCR's ``en_dict.txt`` (its choice for the English set, laion)."""
    if name == "ch":
        return Charset("ch", frozenset(_rapidocr_dictionary()))
    if name == "en":
        return Charset("en", frozenset(c for c in string.printable if c not in string.whitespace))
    raise ValueError(f"unknown charset {name!r}; choose 'ch' or 'en'")


def sentence_match(predicted: str, expected: str) -> int:
    """1 when the recognised text equals the ground truth exactly, else 0."""
    return int(predicted == expected)


def ned(predicted: str, expected: str, charset: Charset | None = None) -> float:
    """The benchmark's normalised edit-distance similarity (1 = identical, 0 = nothing in common)."""
    if charset is not None:
        predicted, expected = charset.normalize(predicted), charset.normalize(expected)
    distance = levenshtein(predicted, expected)
    return 1.0 - distance / (max(len(predicted), len(expected)) + NED_EPSILON)


@dataclass
class LineScore:
    """One scored line of one image."""

    image: str  # file name of the scored image
    entry: str  # img_name of the annotation entry
    line: int  # index of the line within the entry (after the benchmark's filtering)
    language: str
    expected: str
    predicted: str
    confidence: float
    sentence_accuracy: int
    ned: float

    def to_dict(self) -> dict:
        return asdict(self)


def score_line(
    image: str, entry: str, line: int, language: str, expected: str, predicted: str, confidence: float,
    charset: Charset | None,
) -> LineScore:
    return LineScore(
        image=image, entry=entry, line=line, language=language or "unknown", expected=expected,
        predicted=predicted, confidence=float(confidence),
        sentence_accuracy=sentence_match(predicted, expected), ned=ned(predicted, expected, charset),
    )


def _means(scores: list[LineScore]) -> dict:
    n = len(scores)
    return {
        "lines": n,
        "sentence_accuracy": sum(s.sentence_accuracy for s in scores) / n if n else 0.0,
        "ned": sum(s.ned for s in scores) / n if n else 0.0,
    }


def summarize(scores: list[LineScore]) -> dict:
    """Overall, per-language and per-image means of sentence accuracy and NED over lines."""
    by_language: dict[str, list[LineScore]] = defaultdict(list)
    by_image: dict[str, list[LineScore]] = defaultdict(list)
    for s in scores:
        by_language[s.language].append(s)
        by_image[s.image].append(s)
    overall = _means(scores)
    return {
        "sentence_accuracy": overall["sentence_accuracy"],
        "ned": overall["ned"],
        "lines": overall["lines"],
        "images": len(by_image),
        "per_language": {lang: _means(v) for lang, v in sorted(by_language.items())},
        "per_image": {img: _means(v) for img, v in by_image.items()},
    }
