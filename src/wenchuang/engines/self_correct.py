"""Self-correction: OCR-check every line of a result and re-edit only the lines read wrong.

`correct(engine, request, result)` works with any object that has the Engine protocol
(`generate(request)` and `edit(request)` returning a `DesignResult`); `run_request` calls it when
``request.self_correct`` (rounds, 0-10) is above 0.

For each image of the first result (which is exactly the uncorrected result for its seed):

1. every line is read by OCR in its polygon and compared with the text the user asked for (not with
   what the engine says it drew);
2. each line read wrong is edited on its own: an edit request with that one line, its polygon, the
   current image as input, and the seed `repair_seed(image seed, round, line)`; only the pixels
   inside the line's polygon are taken from the edited image, everything else stays as it was;
3. the repaired line is read again; the attempt is kept when it is better than the line's best so
   far (exact match, else higher NED, else higher confidence), otherwise the image is left as it was;
4. rounds repeat until every line passes, the rounds are spent, or a round fixes nothing new: no
   attempt passed and every attempt read the same as an earlier attempt for its line (the engine's
   repair is stuck, e.g. a deterministic edit).

With several images, the images are then ordered by how many lines pass (best of n; ties keep the
seed order). ``result.extra["self_correct"]`` records per image and per line the attempts
(`attempt`, `seed`, `read`, `confidence`, `ned`, `passed`), the final reading and the seconds spent;
``result.debug["uncorrected_K"]`` keeps the first attempt of image K (the uncorrected result).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from wenchuang.errors import WenchuangError
from wenchuang.evaluation.metrics import ned
from wenchuang.layout.polygons import polygon_mask
from wenchuang.ocr import check_lines, normalize_text
from wenchuang.request import MAX_SEED, DesignRequest, DesignResult, LineReading, TextLine


def repair_seed(seed: int, round_: int, line: int) -> int:
    """The seed of the repair of `line` in `round_` of the image made with `seed` (stable across runs,
    machines and Python versions)."""
    digest = hashlib.sha256(f"wenchuang-self-correct:{int(seed)}:{int(round_)}:{int(line)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (MAX_SEED + 1)


def reading_key(reading: LineReading) -> tuple[bool, float, float]:
    """What "better" means for one line: exact match, then NED to the asked text, then confidence."""
    similarity = ned(normalize_text(reading.read), normalize_text(reading.expected))
    return bool(reading.passed), round(similarity, 6), float(reading.confidence)


@dataclass
class _Line:
    """One requested line of one image during correction."""

    index: int
    line: TextLine  # the asked text, in the image's pixels
    mask: np.ndarray | None  # its polygon filled, (H, W) bool; None when it has no polygon
    best: LineReading
    attempts: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


def correct(engine: Any, request: DesignRequest, result: DesignResult, first_seconds: float = 0.0) -> DesignResult:
    """Repair the wrong lines of `result` (made from `request` by `engine`), in place; returns it."""
    rounds = int(request.self_correct)
    asked = _asked_lines(request, result)
    images_info: list[dict[str, Any]] = []
    share = first_seconds / max(len(result.images), 1)
    repair_seconds = 0.0
    uncorrected = [np.array(image, copy=True) for image in result.images]
    for i, image in enumerate(result.images):
        start = time.perf_counter()
        seed = int(result.seeds[i]) if i < len(result.seeds) else int(request.seed)
        fixed, info, repairs = _correct_image(engine, request, result, image, seed, asked, rounds)
        result.images[i] = fixed
        final = [ln.best for ln in info]
        if i < len(result.readings):
            result.readings[i] = final + list(result.readings[i][len(final):])  # erased regions stay
        else:
            result.readings.append(final)
        seconds = time.perf_counter() - start
        repair_seconds += seconds
        images_info.append(
            {
                "seed": seed,
                "original_index": i,
                "repairs": repairs,
                "rounds": max((a["round"] for ln in info for a in ln.attempts), default=0),
                "passed": sum(r.passed for r in final),
                "lines": [{"text": ln.line.text, "attempts": ln.attempts, "final": ln.best.to_dict()} for ln in info],
                "seconds": round(share + seconds, 4),
            }
        )

    _order_best_first(result, images_info)
    for k, img in enumerate(images_info):  # the first attempts, in the final order (before/after views)
        result.debug[f"uncorrected_{k}"] = uncorrected[img["original_index"]]
    wrong = sum(len(img["lines"]) - img["passed"] for img in images_info)
    if wrong:
        result.warnings.append(
            f"self-correction: {wrong} line(s) still read wrong after up to {rounds} round(s); "
            "the best attempt of each is kept"
        )
    result.timings["self_correct"] = round(repair_seconds, 4)
    result.extra["self_correct"] = {
        "rounds": rounds,
        "engine_calls": 1 + sum(img["repairs"] for img in images_info),
        "images": images_info,
    }
    return result


def _asked_lines(request: DesignRequest, result: DesignResult) -> list[TextLine]:
    """The user's texts with the polygons the engine placed them in (``extra["lines"]``, when the
    engine reports them for every line), else the request's own polygons."""
    placed = result.extra.get("lines")
    if isinstance(placed, list) and len(placed) == len(request.lines):
        polygons = [p.get("polygon") if isinstance(p, dict) else None for p in placed]
    else:
        polygons = [None] * len(request.lines)
    return [
        TextLine(line.text, polygon or line.polygon, line.font, line.color)
        for line, polygon in zip(request.lines, polygons)
    ]


def _scaled(line: TextLine, sx: float, sy: float) -> TextLine:
    if line.polygon is None or (sx == 1.0 and sy == 1.0):
        return TextLine(line.text, line.polygon, line.font, line.color)
    return TextLine(line.text, [(x * sx, y * sy) for x, y in line.polygon], line.font, line.color)


def _correct_image(
    engine: Any,
    request: DesignRequest,
    result: DesignResult,
    image: np.ndarray,
    seed: int,
    asked: list[TextLine],
    rounds: int,
) -> tuple[np.ndarray, list[_Line], int]:
    """(the corrected image, the per-line record, engine calls made) for one image."""
    height, width = image.shape[:2]
    canvas_w, canvas_h = request.canvas_size
    lines = [_scaled(line, width / canvas_w, height / canvas_h) for line in asked]
    current = np.array(image, copy=True)
    readings = check_lines(current, lines) if lines else []
    info = []
    for j, (line, reading) in enumerate(zip(lines, readings)):
        mask = polygon_mask(line.polygon, width, height).astype(bool) if line.polygon is not None else None
        state = _Line(j, line, mask, reading)
        state.attempts.append(_attempt(0, 0, seed, reading))
        state.seen.add(normalize_text(reading.read))
        info.append(state)

    calls = 0
    for round_ in range(1, rounds + 1):
        failing = [ln for ln in info if not ln.best.passed and ln.mask is not None]
        if not failing:
            break
        progress = False
        for state in failing:
            repair = repair_seed(seed, round_, state.index)
            try:
                edited = engine.edit(_repair_request(request, result, current, state.line, repair))
            except WenchuangError as exc:
                state.attempts.append({"round": round_, "attempt": len(state.attempts), "seed": repair,
                                       "error": str(exc), "passed": False})  # fmt: skip
                result.warnings.append(f"self-correction of line {state.index} ({state.line.text!r}) failed: {exc}")
                calls += 1
                continue
            calls += 1
            candidate = _paste(current, edited.images[0], state.mask)
            reading = check_lines(candidate, [state.line])[0]
            state.attempts.append(_attempt(round_, len(state.attempts), repair, reading))
            read = normalize_text(reading.read)
            if reading.passed or read not in state.seen:
                progress = True
            state.seen.add(read)
            if reading_key(reading) > reading_key(state.best):
                current = candidate
                state.best = reading
                _reread_overlapping(current, info, state)
        if not progress:
            break
    return current, info, calls


def _attempt(round_: int, attempt: int, seed: int, reading: LineReading) -> dict[str, Any]:
    return {
        "round": round_,
        "attempt": attempt,
        "seed": int(seed),
        "read": reading.read,
        "confidence": reading.confidence,
        "ned": round(ned(normalize_text(reading.read), normalize_text(reading.expected)), 4),
        "passed": bool(reading.passed),
    }


def _repair_request(
    request: DesignRequest, result: DesignResult, image: np.ndarray, line: TextLine, seed: int
) -> DesignRequest:
    """An edit of `line` alone on `image` with `seed`, sampled like the original request."""
    model_prompt = result.extra.get("model_prompt")
    translated = request.translated_prompt or (model_prompt if isinstance(model_prompt, str) else None)
    return DesignRequest(
        mode="edit",
        prompt=request.prompt,
        lines=[TextLine(line.text, list(line.polygon), line.font, line.color)],
        image=np.array(image, copy=True),
        image_count=1,
        steps=request.steps,
        guidance_scale=request.guidance_scale,
        strength=request.strength,
        eta=request.eta,
        seed=seed,
        extra_prompt=request.extra_prompt,
        negative_prompt=request.negative_prompt,
        sort_priority=request.sort_priority,
        keep_unmasked=True,
        translated_prompt=translated,
    ).validate()


def _paste(current: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`current` with the pixels inside `mask` taken from `edited` (resized to fit when needed)."""
    edited = np.asarray(edited)
    if edited.shape[:2] != current.shape[:2]:
        edited = cv2.resize(edited, (current.shape[1], current.shape[0]), interpolation=cv2.INTER_AREA)
    out = current.copy()
    out[mask] = edited[mask]
    return out


def _reread_overlapping(image: np.ndarray, info: list[_Line], changed: _Line) -> None:
    """Lines whose polygon overlaps the repaired one may have changed: read them again."""
    for other in info:
        if other is changed or other.mask is None or not (other.mask & changed.mask).any():
            continue
        other.best = check_lines(image, [other.line])[0]


def _order_best_first(result: DesignResult, images_info: list[dict[str, Any]]) -> None:
    """Best of n: images with more lines passing first (stable, so ties keep the seed order)."""
    if len(result.images) < 2:
        return
    order = sorted(range(len(result.images)), key=lambda i: -images_info[i]["passed"])
    if order == list(range(len(order))):
        return
    result.images[:] = [result.images[i] for i in order]
    if len(result.seeds) == len(order):
        result.seeds[:] = [result.seeds[i] for i in order]
    if len(result.readings) == len(order):
        result.readings[:] = [result.readings[i] for i in order]
    images_info[:] = [images_info[i] for i in order]
