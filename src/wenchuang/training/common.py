"""Pieces both trainers share: deterministic per-step randomness, checkpoints, optimizers, images,
several processes.

Determinism is by construction: every random draw of micro step ``m`` comes from generators seeded
with ``(seed, m)``: which images (`shard_indices`), and, per sample ``k`` of the global batch, its
flip, rendering choices, noise and timestep (`sample_generators`); the global torch generator (for
dropout, if a model has any) is re-seeded from ``(seed, m, rank)`` before each micro step. A run
therefore needs only the trainable weights, the optimiser and scheduler states (and the EMA) and
the step count to continue exactly where it stopped: a resumed run ends in the same state as an
uninterrupted one, and the data position is the step.

Several processes (``accelerate launch``, torchrun, ``--num-processes``): each takes its own slice of
the global batch of a micro step (no sample twice), the gradients are averaged over the processes
once per optimisation step (`average_gradients`), so every process holds the same weights, equal
to one process with the same global batch; only the main process writes checkpoints, samples and
the output.
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


def derived_seed(*values: int) -> int:
    """A 63-bit seed mixed from integers (numpy's SeedSequence: no collisions between nearby tuples)."""
    state = np.random.SeedSequence([int(v) % 2**63 for v in values]).generate_state(2, np.uint32)
    return (int(state[0]) << 31 ^ int(state[1])) % 2**63


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """A CPU generator for one (seed, step, stream) triple."""
    return torch.Generator("cpu").manual_seed(derived_seed(seed, step, stream))


def sample_generators(seed: int, micro_step: int, first: int, count: int, group: int = 0) -> list[torch.Generator]:
    """One generator per sample: samples ``first .. first+count-1`` of micro step `micro_step`'s global
    batch (`group` tells apart two batches of one step, e.g. instance and class images). A sample's
    draws do not depend on how the global batch is split over processes."""
    return [step_generator(seed, micro_step, 1_000 + group * 1_000_000 + k) for k in range(first, first + count)]


def randn_per_sample(shape: tuple[int, ...], generators: list[torch.Generator]) -> torch.Tensor:
    """(len(generators), *shape) standard normal noise, row k drawn from generator k."""
    return torch.stack([torch.randn(shape, generator=g) for g in generators])


def randint_per_sample(high: int, generators: list[torch.Generator]) -> torch.Tensor:
    return torch.cat([torch.randint(0, high, (1,), generator=g) for g in generators])


def sample_indices(count: int, step: int, per_step: int, seed: int) -> list[int]:
    """Indices for step `step`: walk through a fresh permutation of range(count) per epoch."""
    out = []
    orders: dict[int, torch.Tensor] = {}
    for k in range(per_step):
        position = step * per_step + k
        epoch, offset = divmod(position, count)
        if epoch not in orders:
            orders[epoch] = torch.randperm(count, generator=step_generator(seed, epoch, stream=7))
        out.append(int(orders[epoch][offset]))
    return out


def shard_indices(count: int, step: int, per_process: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """This process's slice of micro step `step`'s global batch (`per_process` × `world` positions in
    the epoch permutations): the processes together draw exactly what one process with the global
    batch draws, and no sample twice unless the global batch is larger than the data."""
    everything = sample_indices(count, step, per_process * world, seed)
    return everything[rank * per_process : (rank + 1) * per_process]


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


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder
        pass
    finally:
        os.close(fd)


def save_checkpoint(
    folder: Path,
    step: int,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    extra_state: dict[str, torch.Tensor] | None = None,
    info: dict | None = None,
    keep: int | None = 3,
    scheduler: Any = None,
) -> Path:
    """Write ``folder/checkpoint-STEP`` atomically and keep only the newest `keep` checkpoints.

    Everything is written into ``.checkpoint-STEP.tmp`` and synced to disk, then the folder is
    renamed into place: a run killed at any moment leaves either a whole checkpoint or none (a
    leftover ``.tmp`` folder is never read, and is removed by the next save)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".checkpoint-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    target = folder / f"checkpoint-{step}"
    tmp = folder / f".checkpoint-{step}.tmp"
    tmp.mkdir()
    save_file(trainable_state(modules), str(tmp / "trainable.safetensors"))
    if extra_state:
        save_file(
            {k: v.detach().float().cpu().contiguous() for k, v in extra_state.items()},
            str(tmp / "extra.safetensors"),
        )
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    if scheduler is not None:
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, **(info or {})}, indent=2))
    for path in tmp.iterdir():
        _fsync(path)
    _fsync(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    _fsync(folder)
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
    path: Path, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer, scheduler: Any = None
) -> tuple[int, dict, dict[str, torch.Tensor]]:
    """Restore weights, optimiser (and scheduler) state; returns (step, info, extra_state)."""
    load_trainable_state(modules, load_file(str(path / "trainable.safetensors")))
    optimizer.load_state_dict(torch_load_weights(path / "optimizer.pt"))
    if scheduler is not None:
        if not (path / "scheduler.pt").is_file():
            raise WenchuangError(f"{path}: no scheduler.pt (a checkpoint of an older version)")
        scheduler.load_state_dict(torch_load_weights(path / "scheduler.pt"))
    info = json.loads((path / "state.json").read_text())
    extra_path = path / "extra.safetensors"
    extra = load_file(str(extra_path)) if extra_path.is_file() else {}
    return int(info["step"]), info, extra


def make_optimizer(
    params: Iterable[torch.nn.Parameter], lr: float, use_8bit: bool = False, weight_decay: float = 1e-2
) -> torch.optim.Optimizer:
    """AdamW; bitsandbytes' AdamW8bit with `use_8bit` when bitsandbytes is installed (else a warning)."""
    params = list(params)
    if use_8bit:
        try:
            import bitsandbytes as bnb
        except ImportError:
            warnings.warn(
                "bitsandbytes is not installed: using torch AdamW instead of 8-bit Adam", stacklevel=2
            )
        else:
            return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")


def make_lr_scheduler(optimizer: torch.optim.Optimizer, name: str, warmup_steps: int, max_steps: int):
    """diffusers' learning-rate schedule `name`, stepped once per optimisation step."""
    from diffusers.optimization import get_scheduler

    if name not in LR_SCHEDULERS:
        raise WenchuangError(f"lr_scheduler must be one of {', '.join(LR_SCHEDULERS)}, not {name!r}")
    if warmup_steps < 0:
        raise WenchuangError(f"lr_warmup_steps must be at least 0, not {warmup_steps}")
    if name == "constant" and warmup_steps:
        name = "constant_with_warmup"
    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps, num_training_steps=max_steps)


def effective_batch(batch_size: int, gradient_accumulation: int, num_processes: int) -> int:
    """Samples per optimisation step: per-process batch × accumulation × processes."""
    return batch_size * gradient_accumulation * num_processes


def enable_gradient_checkpointing(module: torch.nn.Module) -> None:
    """Recompute activations in the backward pass for every diffusers block of `module` (UNet,
    ControlNet) or a transformers model: less memory, about a third more compute."""
    if hasattr(module, "_set_gradient_checkpointing") and hasattr(module, "enable_gradient_checkpointing"):
        # diffusers: the blocks carry the switch; AnyText's ControlNet reuses those blocks
        from torch.utils.checkpoint import checkpoint

        def run(block, *args):
            return checkpoint(block.__call__, *args, use_reentrant=False)

        module._set_gradient_checkpointing(enable=True, gradient_checkpointing_func=run)
        return
    enable = getattr(module, "activation_checkpointing_enable", None)  # transformers 5 renamed it
    (enable or module.gradient_checkpointing_enable)()


def uses_gradient_checkpointing(module: torch.nn.Module) -> bool:
    return any(getattr(m, "gradient_checkpointing", False) is True for m in module.modules())


def weight_dtype(mixed_precision: str) -> torch.dtype:
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed_precision, torch.float32)


def make_accelerator(mixed_precision: str):
    """An accelerate Accelerator. accelerate keeps one process-wide state; a second trainer in the same
    process with another precision (a studio, the tests) would be refused, so that state is reset.

    Launched as several processes (``WORLD_SIZE`` > 1) on a machine without CUDA, the processes meet
    over gloo on the CPU (how the tests run two processes)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    state = AcceleratorState._shared_state
    if state and str(state.get("_mixed_precision", mixed_precision)) != mixed_precision:
        AcceleratorState._reset_state()
    cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    return Accelerator(mixed_precision=mixed_precision, cpu=cpu)


def average_gradients(params: list[torch.nn.Parameter], accelerator: Any, bucket_mb: float = 64.0) -> None:
    """Average the gradients of `params` over the processes (one all-reduce per ~64 MB bucket)."""
    world = getattr(accelerator, "num_processes", 1)
    if world <= 1:
        return
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    limit = int(bucket_mb * 2**20)
    bucket: list[torch.Tensor] = []
    size = 0
    for i, grad in enumerate(grads):
        bucket.append(grad)
        size += grad.numel() * grad.element_size()
        if size >= limit or i == len(grads) - 1:
            flat = torch.cat([g.reshape(-1) for g in bucket])
            dist.all_reduce(flat)
            flat /= world
            offset = 0
            for g in bucket:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()
            bucket, size = [], 0


def mean_over_processes(value: float, accelerator: Any) -> float:
    if getattr(accelerator, "num_processes", 1) <= 1:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=accelerator.device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / accelerator.num_processes


class SteppedTrainer(Protocol):
    """What `run_steps` needs of a trainer (both `StyleTrainer` and `TextTrainer` are one).

    `config` has seed, max_steps, gradient_accumulation, max_grad_norm, checkpoint_steps and
    progress; `lr_scheduler` may be None."""

    config: Any
    step: int
    losses: list[float]
    accelerator: Any
    optimizer: torch.optim.Optimizer
    lr_scheduler: Any

    def step_loss(self, micro_step: int) -> torch.Tensor: ...

    def save_checkpoint(self) -> Path: ...


def is_main_process(accelerator: Any) -> bool:
    return bool(getattr(accelerator, "is_main_process", True))


def wait_for_everyone(accelerator: Any) -> None:
    if getattr(accelerator, "num_processes", 1) > 1:
        accelerator.wait_for_everyone()


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
    so a resumed run draws exactly what an uninterrupted one would; the global torch generator is
    re-seeded from (seed, micro step, rank) first), averages the gradients over the processes,
    clips the gradients of `params` to `max_grad_norm`, steps the optimiser, the learning-rate
    schedule and `ema` (when given), then: counts the step, refuses a loss that is not finite,
    records the loss (the mean over the processes), shows it, writes a checkpoint every
    `checkpoint_steps` (the main process only, the others wait; not at the last step: the trainer's
    output follows), runs `after_step()`, then `callback(step, loss)`.
    """
    from tqdm import tqdm

    cfg = trainer.config
    accelerator = trainer.accelerator
    accumulation = cfg.gradient_accumulation
    rank = getattr(accelerator, "process_index", 0)
    scheduler = getattr(trainer, "lr_scheduler", None)
    show = cfg.progress and is_main_process(accelerator)
    with tqdm(total=cfg.max_steps, initial=trainer.step, desc=desc, disable=not show) as bar:
        while trainer.step < cfg.max_steps:
            total = 0.0
            for a in range(accumulation):
                micro_step = trainer.step * accumulation + a
                torch.manual_seed(derived_seed(getattr(cfg, "seed", 0), micro_step, rank, 99))
                loss = trainer.step_loss(micro_step) / accumulation
                accelerator.backward(loss)
                total += float(loss.detach())
            average_gradients(params, accelerator)
            total = mean_over_processes(total, accelerator)
            if cfg.max_grad_norm:
                accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            trainer.optimizer.step()
            trainer.optimizer.zero_grad(set_to_none=True)
            if scheduler is not None:
                scheduler.step()
            if ema is not None:
                ema.step(params)
            trainer.step += 1
            if not math.isfinite(total):
                raise WenchuangError(f"the loss became {total} at step {trainer.step}; lower the learning rate")
            trainer.losses.append(total)
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
            if cfg.checkpoint_steps and trainer.step % cfg.checkpoint_steps == 0 and trainer.step < cfg.max_steps:
                if is_main_process(accelerator):
                    trainer.save_checkpoint()
                wait_for_everyone(accelerator)
            if after_step is not None:
                after_step()
            if callback is not None:
                callback(trainer.step, total)
