"""The Engine protocol: anything with `generate(request)` and `edit(request)` returning a DesignResult."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from wenchuang.request import DesignRequest, DesignResult


@runtime_checkable
class Engine(Protocol):
    name: str

    def generate(self, request: DesignRequest) -> DesignResult: ...

    def edit(self, request: DesignRequest) -> DesignResult: ...


def run_request(engine: Engine, request: DesignRequest) -> DesignResult:
    """Validate the request and hand it to the engine's method for its mode."""
    request.validate()
    if request.mode == "generate":
        return engine.generate(request)
    return engine.edit(request)
