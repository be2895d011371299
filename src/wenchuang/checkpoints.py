"""Reading weight files and checking them against a model, for every part of the project.

- `torch_load_weights(path)`: the one place a pickled checkpoint (`.ckpt`, `.pth`, `.pt`, `.bin`) is
  read, always with ``weights_only=True``; an unreadable file is a one-line `ModelError`.
- `read_state_dict(path)`: a `.safetensors` or pickled file's state dict (an outer ``state_dict``
  entry unwrapped).
- `compare_keys(expected, state)`: the missing keys, the unexpected keys and the shape mismatches,
  as a `KeyCheck` that words them (`problems()` line by line, `summary()` in one sentence);
  `key_problems`, `raise_key_problems` and `load_checked` are the usual ways to use it.

A leaf module: it imports nothing of the project but its errors, so the FID network, the trainers
and the AnyText conversion share it without depending on each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from wenchuang.errors import ModelError

__all__ = [
    "KeyCheck",
    "compare_keys",
    "key_problems",
    "load_checked",
    "raise_key_problems",
    "read_state_dict",
    "torch_load_weights",
]


# ---------------------------------------------------------------------------- reading
def torch_load_weights(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False):
    """``torch.load(path, weights_only=True)`` (no code in the file ever runs); a file it cannot read
    is a one-line `ModelError` naming the file and the reason, never torch's advice to load it unsafely.

    With `mmap` a file in the zip format is memory-mapped (older files are read whole).
    """
    path = Path(path)
    try:
        if mmap:
            try:
                return torch.load(str(path), map_location=map_location, weights_only=True, mmap=True)
            except RuntimeError as exc:
                if "mmap" not in str(exc):
                    raise
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types; all mean a file we cannot use
        reason = _load_failure(exc)
        raise ModelError(f"{path}: not a PyTorch checkpoint or safetensors file ({reason})") from None


def _load_failure(exc: Exception) -> str:
    """The short reason of a failed torch.load, without its "re-run with weights_only=False" text."""
    if isinstance(exc, EOFError):
        return "the file ends early: empty or cut short"
    text = " ".join(str(exc).split())
    if "WeightsUnpickler error:" in text:  # the safe unpickler met something that is not tensor data
        detail = text.split("WeightsUnpickler error:", 1)[1].split(" Check the documentation")[0]
        detail = detail.split(". ")[0].strip().rstrip(".")
        return f"the safe loader refused it: {detail}"
    first = text.split(". ")[0]
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def read_state_dict(path: str | Path, mmap: bool = False) -> dict:
    """The state dict in a `.safetensors` file or a pickled checkpoint (its ``state_dict`` entry when it
    has one); a file that cannot be read, or does not hold a dict, is a `ModelError` naming it."""
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            state = load_file(str(path))
        except Exception as exc:  # any unreadable file is the user's wrong input, not our bug
            raise ModelError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None
    else:
        state = torch_load_weights(path, mmap=mmap)
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ModelError(f"{path} does not hold a state dict")
    return dict(state)


# ---------------------------------------------------------------------------- checking keys
def _shape(value) -> tuple[int, ...]:
    return tuple(int(n) for n in value.shape)


@dataclass
class KeyCheck:
    """How a state dict differs from what a model expects (all lists sorted)."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # (key, shape given, shape expected)
    wrong_shape: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_shape)

    def problems(self, prefix: str = "") -> list[str]:
        """One line per problem: ``missing KEY``, ``unexpected KEY``, ``KEY: shape (a,), expected (b,)``."""
        lines = [f"missing {prefix}{key}" for key in self.missing]
        lines += [f"unexpected {prefix}{key}" for key in self.unexpected]
        lines += [f"{prefix}{key}: shape {given}, expected {want}" for key, given, want in self.wrong_shape]
        return lines

    def summary(self, examples: int = 3) -> str:
        """One sentence with the counts and the first `examples` keys of each kind."""

        def first(keys: list[str]) -> str:
            more = ", ..." if len(keys) > examples else ""
            return ", ".join(keys[:examples]) + more

        parts = []
        if self.wrong_shape:
            shapes = [f"{key}: shape {given}, expected {want}" for key, given, want in self.wrong_shape]
            parts.append(f"{len(shapes)} shape mismatches (e.g. {first(shapes)})")
        if self.missing:
            parts.append(f"{len(self.missing)} missing (e.g. {first(self.missing)})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected (e.g. {first(self.unexpected)})")
        return "; ".join(parts)


def compare_keys(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> KeyCheck:
    """Missing keys, unexpected keys and shape mismatches of `state` against `expected` (shapes only:
    works on the meta device, copies nothing)."""
    return KeyCheck(
        missing=sorted(key for key in expected if key not in state),
        unexpected=sorted(key for key in state if key not in expected),
        wrong_shape=[
            (key, _shape(state[key]), _shape(expected[key]))
            for key in sorted(state)
            if key in expected and _shape(state[key]) != _shape(expected[key])
        ],
    )


def key_problems(model: torch.nn.Module, state: Mapping[str, torch.Tensor], prefix: str = "") -> list[str]:
    """`compare_keys` of `model`'s state dict as problem lines, each key written with `prefix`."""
    return compare_keys(model.state_dict(), state).problems(prefix)


def raise_key_problems(
    problems: list[str], source: str, what: str = "an AnyText checkpoint this version understands"
) -> None:
    """One `ModelError` listing (the first 40 of) `problems` of `source`; nothing when there are none."""
    if problems:
        shown = "; ".join(problems[:40])
        more = f"; ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        raise ModelError(f"{source} is not {what}: {len(problems)} key problem(s): {shown}{more}")


def load_checked(model: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Load `state` into `model` strictly, each tensor cast to the model's dtype; a missing or unexpected
    key or a wrong shape is a `ModelError` ("{what} do not match: ...") and nothing is loaded."""
    expected = model.state_dict()
    check = compare_keys(expected, state)
    if not check.ok:
        raise ModelError(f"{what} do not match: {check.summary()}")
    model.load_state_dict({key: value.to(expected[key].dtype) for key, value in state.items()}, strict=True)
