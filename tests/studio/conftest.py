"""Studio test set-up: a temporary data folder, and a small deterministic fake engine registered
as "fake" (the real classic engine is tested separately where it exists)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image, ImageDraw

from wenchuang.engines import registry
from wenchuang.request import DesignResult, LineReading

FAKE_MODULE = "wenchuang_studio_test_fake_engine"


class FakeEngine:
    """Paints a seeded background and a box per line; reads every line back as correct."""

    name = "fake"
    gate = None  # a threading.Event: when set on the class, every job waits for it (queue tests)
    seen: list = []  # the base image of every request, in order (None for a blank generate)

    def __init__(self, model=None):
        self.model = model
        self.calls = 0

    def _result(self, request, base):
        self.calls += 1
        FakeEngine.seen.append(request.image)
        if FakeEngine.gate is not None:
            FakeEngine.gate.wait(10)
        images = []
        seeds = request.resolved_seeds()
        for seed in seeds:
            rng = np.random.default_rng(seed)
            img = (
                base.copy()
                if base is not None
                else rng.integers(0, 255, (request.height, request.width, 3), dtype=np.uint8)
            )
            pil = Image.fromarray(img)
            draw = ImageDraw.Draw(pil)
            for line in request.lines:
                if line.polygon:
                    draw.polygon([tuple(p) for p in line.polygon], outline=(255, 0, 0), width=3)
            images.append(np.asarray(pil))
        readings = [[LineReading(ln.text, ln.text, 0.99, True) for ln in request.lines] for _ in seeds]
        return DesignResult(
            images=images,
            seeds=seeds,
            request=request,
            engine="fake",
            model=self.model,
            readings=readings,
            timings={"render": 0.001},
        )

    def generate(self, request):
        return self._result(request, request.image)

    def edit(self, request):
        return self._result(request, request.image)


def _install_fake():
    module = types.ModuleType(FAKE_MODULE)
    module.engine_status = lambda model=None: (True, "fake engine for tests")
    module.create_engine = lambda model=None, **options: FakeEngine(model)
    sys.modules[FAKE_MODULE] = module


@pytest.fixture
def fake_engine(monkeypatch):
    _install_fake()
    monkeypatch.setitem(registry._ENGINES, "fake", FAKE_MODULE)
    FakeEngine.seen = []
    yield "fake"
    FakeEngine.gate = None
    FakeEngine.seen = []


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("WENCHUANG_HOME", str(home))
    return home
