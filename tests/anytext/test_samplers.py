"""Samplers (wenchuang.anytext.schedulers): building, swapping, and convergence on the golden model.

The convergence test runs the tiny golden model (the official key format, random weights) at
128x128 with the default guidance 9: the 200-step official DDIM solution is the reference, and each
deterministic sampler's final latent must come closer to it as its step count grows. Latents are
compared (relative L2): they are what the sampler computes; the random VAE decoder maps them to
mostly clipped pixels. The decoded images must approach the reference too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wenchuang.anytext.sampling import configure_scheduler
from wenchuang.anytext.schedulers import (
    DETERMINISTIC_SAMPLERS,
    SAMPLERS,
    make_scheduler,
    sampler_name,
    set_sampler,
    steps_for,
    training_schedule,
)
from wenchuang.errors import RequestError
from wenchuang.request import DesignRequest, TextLine, default_steps

SIZE = 128


def _run(pipe, conditions, steps: int, output_type: str = "latent"):
    out = pipe(
        'a sign that reads "AB"', conditions=conditions, width=SIZE, height=SIZE, num_inference_steps=steps,
        generator=torch.Generator().manual_seed(7), output_type=output_type,
    )
    if output_type == "latent":
        return out.images.double()
    return out.images[0].astype(np.float64)


def _latent_error(latent, reference) -> float:
    return float((latent - reference).norm() / reference.norm())


def _pixel_rmse(image, reference) -> float:
    return float(np.sqrt(((image - reference) ** 2).mean()))


def test_every_sampler_builds_on_the_training_schedule(tiny_pipe):
    schedule = training_schedule(tiny_pipe.scheduler)
    assert schedule == {
        "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "prediction_type": "epsilon",
    }
    reference = torch.as_tensor(tiny_pipe.scheduler.alphas_cumprod)
    for name in SAMPLERS:
        scheduler = make_scheduler(name, schedule)
        assert sampler_name(scheduler) == name
        torch.testing.assert_close(torch.as_tensor(scheduler.alphas_cumprod), reference)


def test_default_ddim_keeps_the_official_timesteps_and_trailing_ddim_starts_at_999(tiny_pipe):
    assert sampler_name(tiny_pipe.scheduler) == "ddim"
    official = configure_scheduler(make_scheduler("ddim", training_schedule(tiny_pipe.scheduler)), 20)
    assert official.tolist() == list(range(951, 0, -50))
    trailing = configure_scheduler(make_scheduler("ddim_trailing", training_schedule(tiny_pipe.scheduler)), 4)
    assert trailing.tolist() == [999, 749, 499, 249]


def test_set_sampler_swaps_the_scheduler_and_back(tiny_pipe):
    original = tiny_pipe.scheduler
    try:
        assert set_sampler(tiny_pipe, "dpmpp_2m") == "dpmpp_2m"
        assert type(tiny_pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
        assert tiny_pipe.scheduler.config.algorithm_type == "dpmsolver++"
        assert tiny_pipe.config["scheduler"][1] == "DPMSolverMultistepScheduler"  # saved with the pipeline
        same = tiny_pipe.scheduler
        set_sampler(tiny_pipe, "dpmpp_2m")
        assert tiny_pipe.scheduler is same  # nothing rebuilt
        set_sampler(tiny_pipe, "ddim")
        assert sampler_name(tiny_pipe.scheduler) == "ddim"
        with pytest.raises(RequestError, match="sampler.*must be one of ddim, dpmpp_2m"):
            set_sampler(tiny_pipe, "heun")
    finally:
        tiny_pipe.scheduler = original


def test_request_carries_a_validated_sampler_with_its_step_default():
    line = TextLine("AB", [(10, 10), (100, 10), (100, 60), (10, 60)])
    request = DesignRequest(prompt="x", lines=[line]).validate()
    assert request.sampler == "ddim" and request.steps == 20
    with pytest.raises(RequestError, match="sampler"):
        DesignRequest(prompt="x", lines=[line], sampler="plms").validate()
    from_api = DesignRequest.from_dict({"prompt": "x", "sampler": "dpmpp_2m"}).validate()
    assert from_api.steps == default_steps("dpmpp_2m") == 10
    assert DesignRequest.from_dict({"prompt": "x", "sampler": "lcm", "steps": 6}).steps == 6
    assert DesignRequest.from_dict(from_api.to_dict()).sampler == "dpmpp_2m"  # gallery re-run
    assert steps_for("lcm", None) == 4 and steps_for("unipc", 7) == 7


def test_samplers_run_the_tiny_pipeline(tiny_pipe, make_conditions):
    cond = make_conditions(["AB"], [(16, 16, 100, 60)], 128, 128)
    original = tiny_pipe.scheduler
    try:
        for name in SAMPLERS:
            set_sampler(tiny_pipe, name)
            out = tiny_pipe("x", conditions=cond, width=128, height=128, num_inference_steps=3,
                            generator=torch.Generator().manual_seed(1))
            assert out.images[0].shape == (128, 128, 3) and out.images[0].dtype == np.uint8
    finally:
        tiny_pipe.scheduler = original


def test_deterministic_samplers_converge_to_the_200_step_ddim_solution(golden_pipe, make_conditions):
    cond = make_conditions(["AB"], [(16, 16, 100, 60)], SIZE, SIZE)
    original = golden_pipe.scheduler
    try:
        set_sampler(golden_pipe, "ddim")
        with torch.no_grad():
            reference = _run(golden_pipe, cond, 200)
            reference_image = golden_pipe.decode_latents(reference.float())[0].astype(np.float64)
        errors, pixel_errors = {}, {}
        for name in DETERMINISTIC_SAMPLERS:
            set_sampler(golden_pipe, name)
            for steps in (10, 20, 40):
                with torch.no_grad():
                    latent = _run(golden_pipe, cond, steps)
                    image = golden_pipe.decode_latents(latent.float())[0].astype(np.float64)
                errors[name, steps] = _latent_error(latent, reference)
                pixel_errors[name, steps] = _pixel_rmse(image, reference_image)
    finally:
        golden_pipe.scheduler = original
    for name in DETERMINISTIC_SAMPLERS:
        e10, e20, e40 = (errors[name, n] for n in (10, 20, 40))
        assert e10 > e20 > e40, (name, e10, e20, e40)
        p10, p20, p40 = (pixel_errors[name, n] for n in (10, 20, 40))
        assert p10 > p20 > p40, (name, p10, p20, p40)
    # measured: DDIM 0.43 / 0.25 / 0.12; DPM-Solver++ 0.13 / 0.04 / 0.02
    assert errors["dpmpp_2m", 40] < 0.2 and errors["ddim", 40] < 0.2
    assert errors["dpmpp_2m", 10] <= errors["ddim", 20], errors
    assert errors["unipc", 10] <= errors["ddim", 20], errors
