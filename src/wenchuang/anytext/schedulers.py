"""Samplers: a name (`wenchuang.request.SAMPLERS`) -> a diffusers scheduler on the model's training schedule.

Every sampler is built from the same training noise schedule (`num_train_timesteps`, betas,
prediction type) as the pipeline's own scheduler, so any of them can replace it:

- `ddim`: the official sampler; `wenchuang.anytext.sampling.configure_scheduler` gives it the
  official timestep list (951, 901, ... 1 for 20 steps). Parity with the official code holds for it.
- `dpmpp_2m`: DPM-Solver++ 2M (multistep, second order, Karras sigmas): at 10 steps at least as
  close to the converged image as DDIM at 20.
- `unipc`: UniPC (bh2 predictor-corrector, Karras sigmas), like DPM-Solver++ at 8-12 steps.
- `euler`: Euler on Karras sigmas; first order, about as many steps as DDIM.
- `ddim_trailing`: DDIM on "trailing" timesteps (the first step starts at t = 999), the scheduler
  Hyper-SD's N-step LoRAs are trained for.
- `lcm`, `tcd`: the schedulers of the LCM-LoRA and TCD LoRAs (`wenchuang.anytext.lora`); without such
  a LoRA they give noise-like images. Use 4-8 steps and guidance 1 (no negative prompt pass).

Shared by AnyText and AnyText2: `set_sampler(pipe, name)` works on any pipeline with a `scheduler`.
"""

from __future__ import annotations

from typing import Any

from wenchuang.errors import RequestError
from wenchuang.request import DEFAULT_SAMPLER, SAMPLER_STEPS, SAMPLERS, default_steps

__all__ = [
    "DEFAULT_SAMPLER",
    "DETERMINISTIC_SAMPLERS",
    "FEW_STEP_SAMPLERS",
    "SAMPLERS",
    "SAMPLER_STEPS",
    "default_steps",
    "make_scheduler",
    "sampler_name",
    "set_sampler",
    "steps_for",
    "training_schedule",
]

# name -> (diffusers class name, options on top of the training schedule)
_SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": (
        "DDIMScheduler",
        {"clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1, "timestep_spacing": "leading"},
    ),
    # the sigma-based samplers walk Karras' sigma spacing (dense near the end): on the tiny golden
    # model it brings DPM-Solver++ at 10 steps 2-3x closer to the 200-step DDIM solution than the
    # linear spacing does (tests/anytext/test_samplers.py)
    "dpmpp_2m": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True, "lower_order_final": True},
    ),
    "unipc": ("UniPCMultistepScheduler", {"solver_order": 2, "solver_type": "bh2", "use_karras_sigmas": True}),
    "euler": ("EulerDiscreteScheduler", {"use_karras_sigmas": True}),
    "ddim_trailing": (
        "DDIMScheduler",
        {"clip_sample": False, "set_alpha_to_one": False, "steps_offset": 0, "timestep_spacing": "trailing"},
    ),
    "lcm": ("LCMScheduler", {}),
    "tcd": ("TCDScheduler", {}),
}
assert tuple(_SPECS) == SAMPLERS, "wenchuang.request.SAMPLER_STEPS and _SPECS name the same samplers"

# no random draw inside the step (with eta = 0): the image depends on the seed's initial noise only
DETERMINISTIC_SAMPLERS = ("ddim", "dpmpp_2m", "unipc", "euler", "ddim_trailing")
# made for few-step LoRAs (wenchuang.anytext.lora.LORA_SAMPLERS)
FEW_STEP_SAMPLERS = ("lcm", "tcd")

# the keys that describe the training noise schedule (the rest is how a sampler walks it)
_SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type")


def training_schedule(scheduler_or_config) -> dict[str, Any]:
    """The training noise schedule of a scheduler (or its config): the part every sampler shares."""
    config = getattr(scheduler_or_config, "config", scheduler_or_config)
    schedule = {k: config[k] for k in _SCHEDULE_KEYS if k in config}
    if schedule.get("trained_betas") is None:
        schedule.pop("trained_betas", None)
    return schedule


def _check_name(name: str) -> str:
    if name not in _SPECS:
        raise RequestError("sampler", f"must be one of {', '.join(SAMPLERS)}, got {name!r}")
    return name


def make_scheduler(name: str, schedule: dict[str, Any]):
    """A fresh scheduler `name` on the training `schedule` (see `training_schedule`)."""
    import diffusers

    class_name, options = _SPECS[_check_name(name)]
    cls = getattr(diffusers, class_name)
    return cls(**training_schedule(schedule), **options)


def sampler_name(scheduler) -> str | None:
    """Which of `SAMPLERS` a scheduler is (None for one built elsewhere with other options)."""
    for name, (class_name, options) in _SPECS.items():
        if type(scheduler).__name__ != class_name:
            continue
        if all(scheduler.config.get(k) == v for k, v in options.items()):
            return name
    return None


def set_sampler(pipe, name: str) -> str:
    """Give `pipe` the sampler `name` on its current training schedule (nothing is rebuilt when it
    already has it). Returns the name."""
    _check_name(name)
    if sampler_name(pipe.scheduler) != name:
        pipe.scheduler = make_scheduler(name, training_schedule(pipe.scheduler))
    return name


def steps_for(name: str, steps: int | None) -> int:
    """`steps` when given, else the sampler's default."""
    return default_steps(_check_name(name)) if steps is None else int(steps)
