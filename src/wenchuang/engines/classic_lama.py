"""`classic-lama`: the classic engine with the LaMa eraser (`wenchuang.removal.lama`) filling erased
text instead of OpenCV; the same as ``wenchuang edit --engine classic --eraser lama``. Listed as its
own engine so that the studio's engine picker offers it with its status (downloaded or not)."""

from __future__ import annotations

import os

from wenchuang.engines.classic import ClassicEngine

NAME = "classic-lama"


def engine_status(model: str | None = None) -> tuple[bool, str]:
    """Ready when the model is downloaded, or can be (not offline): it is fetched on first use."""
    from wenchuang.removal.lama import lama_status

    ready, detail = lama_status()
    if ready:
        return True, f"classic engine, text filled by the LaMa model: {detail}"
    if os.environ.get("HF_HUB_OFFLINE", "").strip() not in ("", "0"):
        return False, f"{detail}; offline (HF_HUB_OFFLINE is set), so it cannot be fetched now"
    return True, f"classic engine, text filled by the LaMa model; {detail}"


def create_engine(model: str | None = None, cpu_offload: bool | None = None, **options) -> ClassicEngine:
    """The classic engine with ``eraser="lama"`` (other options as `ClassicEngine`)."""
    options["eraser"] = "lama"
    return ClassicEngine(**options)
