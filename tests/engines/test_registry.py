"""The engine registry: a missing optional package makes an engine unavailable; a bug never does."""

from __future__ import annotations

import sys

import pytest

from wenchuang.engines import registry
from wenchuang.errors import RequestError

READY = '''
def engine_status(model=None):
    return True, "ready"


def create_engine(model=None, **options):
    return ("engine", model, options)
'''


@pytest.fixture
def engine_module(tmp_path, monkeypatch):
    """Register engine "probe", whose module holds `source`; returns the function that writes it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    counter = iter(range(1000))

    def write(source: str) -> str:
        name = f"wenchuang_probe_engine_{next(counter)}"
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
        monkeypatch.setitem(registry._ENGINES, "probe", name)
        monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    return write


def test_a_working_engine_module_is_ready_and_builds(engine_module):
    engine_module(READY)
    assert registry.engine_status("probe") == registry.EngineInfo("probe", True, "ready")
    assert registry.create_engine("probe", model="m", fill=0.5) == ("engine", "m", {"fill": 0.5})


def test_a_missing_optional_package_makes_the_engine_unavailable(engine_module):
    engine_module("import wenchuang_no_such_package_xyz\n" + READY)
    info = registry.engine_status("probe")
    assert not info.ready
    assert info.detail == (
        "engine 'probe' is not available in this installation: it needs the 'wenchuang_no_such_package_xyz' package"
    )
    with pytest.raises(RequestError, match="needs the 'wenchuang_no_such_package_xyz' package"):
        registry.create_engine("probe")
    assert "probe" in [e.name for e in registry.available_engines() if not e.ready]


def test_a_package_missing_only_when_asked_for_status_is_unavailable_too(engine_module):
    engine_module(READY.replace('return True, "ready"', "import optional_pkg_xyz.sub\n    return True, 'ready'"))
    info = registry.engine_status("probe")
    assert not info.ready and "needs the 'optional_pkg_xyz' package" in info.detail


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        ("import wenchuang.no_such_module\n", ModuleNotFoundError, "wenchuang.no_such_module"),
        ("from wenchuang.errors import NoSuchError\n", ImportError, "NoSuchError"),
        ("from wenchuang.layout.polygons import no_such_function\n", ImportError, "no_such_function"),
        ("raise RuntimeError('engine module is broken')\n", RuntimeError, "engine module is broken"),
        ("x = undefined_name\n", NameError, "undefined_name"),
    ],
    ids=["own-module-missing", "own-name-missing", "own-function-missing", "runtime-error", "name-error"],
)
def test_a_bug_inside_an_engine_module_surfaces(engine_module, source, error, message):
    engine_module(source + READY)
    with pytest.raises(error, match=message):
        registry.engine_status("probe")
    with pytest.raises(error, match=message):
        registry.create_engine("probe")
    with pytest.raises(error, match=message):
        registry.available_engines()


def test_a_bug_inside_engine_status_surfaces(engine_module):
    engine_module(READY.replace('return True, "ready"', "import wenchuang.not_there\n    return True, 'ready'"))
    with pytest.raises(ModuleNotFoundError, match="wenchuang.not_there"):
        registry.engine_status("probe")
    engine_module(READY.replace('return True, "ready"', "return 1 / 0"))
    with pytest.raises(ZeroDivisionError):
        registry.engine_status("probe")


def test_an_unknown_engine_is_a_request_error():
    with pytest.raises(RequestError, match="unknown engine 'nope'; choose one of classic, ") as info:
        registry.create_engine("nope")
    assert "anytext" in str(info.value)
    assert registry.engine_status("nope").ready is False


def test_missing_dependency_names_third_party_packages_only():
    assert registry.missing_dependency(ModuleNotFoundError("x", name="diffusers.models")) == "diffusers"
    assert registry.missing_dependency(ModuleNotFoundError("x", name="wenchuang.anytext.gone")) is None
    assert registry.missing_dependency(ImportError("cannot import name 'x'", name="diffusers")) is None
    assert registry.missing_dependency(ModuleNotFoundError("x")) is None
    assert registry.missing_dependency(RuntimeError("x")) is None
