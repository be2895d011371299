"""Which engines exist, which are ready on this machine, and how to build one."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from wenchuang.errors import RequestError

# engine name -> module providing `engine_status(model=None) -> (ready, detail)` and
# `create_engine(model=None, **options) -> Engine`
_ENGINES = {
    "classic": "wenchuang.engines.classic",
    "anytext": "wenchuang.engines.anytext_engine",
}


@dataclass
class EngineInfo:
    name: str
    ready: bool
    detail: str


def engine_names() -> list[str]:
    return list(_ENGINES)


def _module(name: str):
    if name not in _ENGINES:
        raise RequestError("engine", f"unknown engine {name!r}; choose one of {', '.join(_ENGINES)}")
    try:
        return importlib.import_module(_ENGINES[name])
    except ImportError as exc:
        raise RequestError(
            "engine", f"engine {name!r} is not available in this installation: {exc}"
        ) from None


def engine_status(name: str, model: str | None = None) -> EngineInfo:
    try:
        ready, detail = _module(name).engine_status(model)
    except RequestError as exc:
        return EngineInfo(name, False, exc.message)
    return EngineInfo(name, bool(ready), detail)


def available_engines(model: str | None = None) -> list[EngineInfo]:
    return [engine_status(name, model) for name in _ENGINES]


def create_engine(name: str, model: str | None = None, **options):
    return _module(name).create_engine(model=model, **options)


def default_engine_name(model: str | None = None) -> str:
    """`anytext` when its weights are ready, else `classic`."""
    return "anytext" if engine_status("anytext", model).ready else "classic"
