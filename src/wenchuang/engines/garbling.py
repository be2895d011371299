"""A simulated unreliable engine: another engine that writes each line wrong with probability `p`.

`GarblingEngine(inner, p)` hands every request to `inner` (the classic engine by default) after
changing one character of each line it decides to garble. The decision and the wrong character
come from the attempt's seed, the line's index, its text and the prompt (as a model's output depends
on what it is asked), so every run is reproducible and attempts with different seeds are independent: one line is right with probability 1 - p, and after
N repairs with probability 1 - p^(N+1). It is the stand-in for a diffusion model's spelling errors in
the self-correction tests and in ``benchmarks/self_correct.py``; nothing registers it as a user
engine. Its own readings check what it drew (the garbled text), as an engine that believes itself
would; the self-correction loop reads every line against the text that was asked for.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import numpy as np

from wenchuang.request import DesignRequest, DesignResult

_CJK_SUBSTITUTES = "天地山水火木金土日月"
_LATIN_SUBSTITUTES = "XQZKVWJ"
_DIGIT_SUBSTITUTES = "3478"


def garble(text: str, rng: np.random.Generator) -> str:
    """`text` with one (non-space) character replaced by a different one of the same kind."""
    positions = [i for i, c in enumerate(text) if not c.isspace()]
    if not positions:
        return text
    i = positions[int(rng.integers(len(positions)))]
    char = text[i]
    if char.isdigit():
        pool = _DIGIT_SUBSTITUTES
    elif char.isascii():
        pool = _LATIN_SUBSTITUTES
    else:
        pool = _CJK_SUBSTITUTES
    choices = [c for c in pool if c.lower() != char.lower()]
    return text[:i] + choices[int(rng.integers(len(choices)))] + text[i + 1 :]


class GarblingEngine:
    """`inner` (default: the classic engine) writing each line wrong with probability `p` per
    attempt; `edit_p` (default `p`) is the probability for edits, e.g. 1.0 for an engine whose repairs
    always fail. `name` is the engine name its results carry. `calls` counts the generate and edit
    calls."""

    def __init__(self, inner: Any = None, p: float = 0.3, edit_p: float | None = None, name: str = "garbling"):
        if inner is None:
            from wenchuang.engines.classic import ClassicEngine  # noqa: PLC0415

            inner = ClassicEngine()
        if not 0.0 <= p <= 1.0 or (edit_p is not None and not 0.0 <= edit_p <= 1.0):
            raise ValueError("garbling probabilities must lie between 0 and 1")
        self.inner = inner
        self.p = float(p)
        self.edit_p = self.p if edit_p is None else float(edit_p)
        self.name = name
        self.calls = 0

    def garbled_lines(self, request: DesignRequest, seed: int, p: float) -> list:
        """The request's lines as this engine writes them for `seed`."""
        out = []
        scene = zlib.crc32(request.prompt.encode())
        for j, line in enumerate(request.lines):
            rng = np.random.default_rng([int(seed), j, zlib.crc32(line.text.encode()), scene])
            text = garble(line.text, rng) if rng.random() < p else line.text
            out.append(dataclasses.replace(line, text=text))
        return out

    def generate(self, request: DesignRequest) -> DesignResult:
        return self._run(request, self.p)

    def edit(self, request: DesignRequest) -> DesignResult:
        return self._run(request, self.edit_p)

    def _run(self, request: DesignRequest, p: float) -> DesignResult:
        """One inner call per image, each with its own seed's garbled lines."""
        self.calls += 1
        results = []
        for seed in request.resolved_seeds():
            single = dataclasses.replace(
                request, lines=self.garbled_lines(request, seed, p), seed=seed, image_count=1, self_correct=0
            )
            method = self.inner.generate if request.mode == "generate" else self.inner.edit
            results.append(method(single))
        first = results[0]
        return DesignResult(
            images=[r.images[0] for r in results],
            seeds=[r.seeds[0] for r in results],
            request=request,
            engine=self.name,
            model=first.model,
            readings=[r.readings[0] for r in results],
            debug=first.debug,
            timings={k: sum(r.timings.get(k, 0.0) for r in results) for k in first.timings},
            warnings=list(first.warnings),
            extra=dict(first.extra),
        )
