"""The Engine protocol: anything with `generate(request)` and `edit(request)` returning a DesignResult."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from wenchuang.images import reduce_request
from wenchuang.request import DesignRequest, DesignResult


@runtime_checkable
class Engine(Protocol):
    name: str

    def generate(self, request: DesignRequest) -> DesignResult: ...

    def edit(self, request: DesignRequest) -> DesignResult: ...


def run_request(engine: Engine, request: DesignRequest) -> DesignResult:
    """Validate the request and hand it to the engine's method for its mode (an image larger than
    `images.WORK_PIXELS` through `images.reduce_request`: worked on reduced, pasted back); then, when
    ``request.self_correct`` > 0, repair the lines the OCR reads wrong (`wenchuang.engines.self_correct`)."""
    request.validate()
    reduced = reduce_request(request)  # a photo above the working size: edited smaller, pasted back
    if reduced is not None:
        return reduced.restore(run_request(engine, reduced.request))
    start = time.perf_counter()
    result = engine.generate(request) if request.mode == "generate" else engine.edit(request)
    if request.self_correct > 0 and request.lines:
        from wenchuang.engines.self_correct import correct  # noqa: PLC0415 - OCR, only when asked

        result = correct(engine, request, result, first_seconds=time.perf_counter() - start)
    return result
