"""Which engines exist, which are ready on this machine, and how to build one."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from wenchuang.errors import RequestError

# engine name -> module providing `engine_status(model=None) -> (ready, detail)` and
# `create_engine(model=None, **options) -> Engine`
_ENGINES = {
    "classic": "wenchuang.engines.classic",
    "classic-lama": "wenchuang.engines.classic_lama",  # the classic engine with the LaMa eraser
    "anytext": "wenchuang.engines.anytext_engine",
    "anytext2": "wenchuang.engines.anytext2_engine",
}
# the default engine: the first of these that is ready (classic always is)
PREFERENCE = ("anytext2", "anytext", "classic")


@dataclass
class EngineInfo:
    name: str
    ready: bool
    detail: str


def engine_names() -> list[str]:
    return list(_ENGINES)


def missing_dependency(exc: BaseException) -> str | None:
    """The name of the third-party package whose absence `exc` reports, else None.

    Only a `ModuleNotFoundError` for a module outside this package counts: a module of our own that
    cannot be imported, or any other `ImportError` (a name missing from a module, a broken
    installation), is a bug and must surface, never read as "not available"."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.split(".")[0]
    return None if top == __name__.split(".")[0] else top


def _unavailable(name: str, package: str) -> RequestError:
    return RequestError(
        "engine", f"engine {name!r} is not available in this installation: it needs the {package!r} package"
    )


def _module(name: str):
    if name not in _ENGINES:
        raise RequestError("engine", f"unknown engine {name!r}; choose one of {', '.join(_ENGINES)}")
    try:
        return importlib.import_module(_ENGINES[name])
    except ModuleNotFoundError as exc:
        package = missing_dependency(exc)
        if package is None:
            raise
        raise _unavailable(name, package) from None


def engine_status(name: str, model: str | None = None) -> EngineInfo:
    """Whether engine `name` can run here. Not ready only when it says so (e.g. no weights), when it
    is unknown, or when an optional third-party package it needs is missing; any other error
    (a bug inside the engine's module) propagates."""
    try:
        ready, detail = _module(name).engine_status(model)
    except RequestError as exc:
        return EngineInfo(name, False, exc.message)
    except ModuleNotFoundError as exc:
        package = missing_dependency(exc)
        if package is None:
            raise
        return EngineInfo(name, False, _unavailable(name, package).message)
    return EngineInfo(name, bool(ready), detail)


def available_engines(model: str | None = None) -> list[EngineInfo]:
    return [engine_status(name, model) for name in _ENGINES]


def create_engine(name: str, model: str | None = None, **options):
    return _module(name).create_engine(model=model, **options)


def default_engine_name(model: str | None = None) -> str:
    """The best engine whose weights are ready: `anytext2`, then `anytext`, then `classic`."""
    for name in PREFERENCE[:-1]:
        if engine_status(name, model).ready:
            return name
    return PREFERENCE[-1]
