"""Pieces both trainers share: deterministic per-step randomness, checkpoints, optimizers, images.

Determinism is by construction: every random draw of optimisation step ``s`` (which images, their
flips, the noise, the timesteps) comes from a generator seeded with ``(seed, s)``. A run therefore
needs only the trainable weights, the optimiser state and the step count to continue exactly where
it stopped: a resumed run ends in the same state as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from wenchuang.checkpoints import compare_keys, torch_load_weights
from wenchuang.errors import WenchuangError

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """A CPU generator for one (seed, step, stream) triple."""
    return torch.Generator("cpu").manual_seed((seed * 1_000_003 + step * 101 + stream) % (2**63))


def sample_indices(count: int, step: int, per_step: int, seed: int) -> list[int]:
    """Indices for step `step`: walk through a fresh permutation of range(count) per epoch."""
    out = []
    for k in range(per_step):
        position = step * per_step + k
        epoch, offset = divmod(position, count)
        order = torch.randperm(count, generator=step_generator(seed, epoch, stream=7))
        out.append(int(order[offset]))
    return out


def load_square_image(path: Path, resolution: int, flip: bool = False) -> torch.Tensor:
    """(3, R, R) float32 in [-1, 1]: shorter side resized to R, centre crop, optional mirror."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = resolution / min(image.size)
        size = (max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC)
        left, top = (image.width - resolution) // 2, (image.height - resolution) // 2
        image = image.crop((left, top, left + resolution, top + resolution))
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    if flip:
        array = array[:, ::-1]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def trainable_state(modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.{name}": p.detach().float().cpu().contiguous()
        for prefix, module in modules.items()
        for name, p in module.named_parameters()
        if p.requires_grad
    }


def load_trainable_state(modules: dict[str, torch.nn.Module], state: dict[str, torch.Tensor]) -> None:
    check = compare_keys(trainable_state(modules), state)
    if not check.ok:
        raise WenchuangError(f"checkpoint does not match this training set-up: {check.summary()}")
    with torch.no_grad():
        for prefix, module in modules.items():
            for name, p in module.named_parameters():
                if p.requires_grad:
                    p.copy_(state[f"{prefix}.{name}"].to(p.dtype))


def save_checkpoint(
    folder: Path,
    step: int,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    extra_state: dict[str, torch.Tensor] | None = None,
    info: dict | None = None,
    keep: int | None = 3,
) -> Path:
    """Write ``folder/checkpoint-STEP`` (atomically) and keep only the newest `keep` checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"checkpoint-{step}"
    tmp = folder / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(trainable_state(modules), str(tmp / "trainable.safetensors"))
    if extra_state:
        save_file(
            {k: v.detach().float().cpu().contiguous() for k, v in extra_state.items()},
            str(tmp / "extra.safetensors"),
        )
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, **(info or {})}, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    if keep:
        for old in list_checkpoints(folder)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_RE.match(p.name)) and p.is_dir()
    ]
    return [p for _, p in sorted(found)]


def find_checkpoint(resume: str, folder: Path) -> Path | None:
    """'latest' = newest checkpoint in `folder` (None when there is none); otherwise a checkpoint path."""
    if resume == "latest":
        found = list_checkpoints(folder)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / "state.json").is_file():
        raise WenchuangError(f"{resume}: not a training checkpoint (no state.json)")
    return path


def load_checkpoint(
    path: Path, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer
) -> tuple[int, dict, dict[str, torch.Tensor]]:
    """Restore weights and optimiser state; returns (step, info, extra_state)."""
    load_trainable_state(modules, load_file(str(path / "trainable.safetensors")))
    optimizer.load_state_dict(torch_load_weights(path / "optimizer.pt"))
    info = json.loads((path / "state.json").read_text())
    extra_path = path / "extra.safetensors"
    extra = load_file(str(extra_path)) if extra_path.is_file() else {}
    return int(info["step"]), info, extra


def make_optimizer(
    params: Iterable[torch.nn.Parameter], lr: float, use_8bit: bool = False, weight_decay: float = 1e-2
) -> torch.optim.Optimizer:
    params = list(params)
    if use_8bit:
        try:
            import bitsandbytes as bnb

            return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=weight_decay)
        except ImportError:
            warnings.warn(
                "bitsandbytes is not installed: using torch AdamW instead of 8-bit Adam", stacklevel=2
            )
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def weight_dtype(mixed_precision: str) -> torch.dtype:
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed_precision, torch.float32)


def make_accelerator(mixed_precision: str):
    """An accelerate Accelerator. accelerate keeps one process-wide state; a second trainer in the same
    process with another precision (a studio, the tests) would be refused, so that state is reset."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    state = AcceleratorState._shared_state
    if state and str(state.get("_mixed_precision", mixed_precision)) != mixed_precision:
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed_precision)


class SteppedTrainer(Protocol):
    """What `run_steps` needs of a trainer (both `StyleTrainer` and `TextTrainer` are one).

    `config` has max_steps, gradient_accumulation, max_grad_norm, checkpoint_steps and progress."""

    config: Any
    step: int
    losses: list[float]
    accelerator: Any
    optimizer: torch.optim.Optimizer

    def step_loss(self, micro_step: int) -> torch.Tensor: ...

    def save_checkpoint(self) -> Path: ...


def run_steps(
    trainer: SteppedTrainer,
    params: list[torch.nn.Parameter],
    desc: str,
    callback: Callable[[int, float], None] | None = None,
    ema: Any = None,
    after_step: Callable[[], None] | None = None,
) -> None:
    """Optimise from `trainer.step` up to `config.max_steps`, the loop both trainers share.

    Each step sums `gradient_accumulation` micro-step losses (micro step ``step * accumulation + a``,
    so a resumed run draws exactly what an uninterrupted one would), clips the gradients of `params`
    to `max_grad_norm`, steps the optimiser (and `ema`, when given), then: counts the step, refuses a
    loss that is not finite, records the loss, shows it, writes a checkpoint every `checkpoint_steps`
    (not at the last step: the trainer's output follows), runs `after_step()`, then
    `callback(step, loss)`.
    """
    from tqdm import tqdm

    cfg = trainer.config
    accumulation = cfg.gradient_accumulation
    with tqdm(total=cfg.max_steps, initial=trainer.step, desc=desc, disable=not cfg.progress) as bar:
        while trainer.step < cfg.max_steps:
            total = 0.0
            for a in range(accumulation):
                loss = trainer.step_loss(trainer.step * accumulation + a) / accumulation
                trainer.accelerator.backward(loss)
                total += float(loss.detach())
            if cfg.max_grad_norm:
                trainer.accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            trainer.optimizer.step()
            trainer.optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.step(params)
            trainer.step += 1
            if not math.isfinite(total):
                raise WenchuangError(f"the loss became {total} at step {trainer.step}; lower the learning rate")
            trainer.losses.append(total)
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
            if cfg.checkpoint_steps and trainer.step % cfg.checkpoint_steps == 0 and trainer.step < cfg.max_steps:
                trainer.save_checkpoint()
            if after_step is not None:
                after_step()
            if callback is not None:
                callback(trainer.step, total)
