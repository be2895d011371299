"""One guided denoising step: our diffusers AnyText against the official implementation, on a CPU.

    pip install --target /tmp/offdeps omegaconf einops easydict     # the official code's imports
    .venv/bin/python benchmarks/official_side_by_side.py --official PATH/TO/tyxsspa-AnyText \\
        --deps /tmp/offdeps [--dtype float32] [--rounds 2] [--steps 2] [--threads 2] [--json OUT]

What is compared: the denoising network of one sampling step with classifier-free guidance at
512x512, full-size shapes (SD1.5 UNet + the text ControlNet of `models_yaml/anytext_sd15.yaml`),
random weights in both (nothing to download; the speed and memory of these networks do not depend on
the values of their weights).
- official: `cldm.cldm.ControlNet` and `ControlledUnetModel` built from the yaml, called as the
  official `ControlLDM.apply_model` does, twice per step (conditional and unconditional, as
  `cldm/ddim_hacked.py`); its ControlNet recomputes the glyph/position hint in every call.
- ours: `AnyTextControlNetModel` + `UNet2DConditionModel` from `AnyTextConfig.full()`, called by
  `AnyTextPipeline.predict_noise` (conditional + unconditional); the hint is computed once per image,
  as in the pipeline.
Each measurement is a fresh process; the implementations alternate (official, ours, official, ours
...) so both see the same load on a shared machine. Per process: the resident memory with the two
networks built, the peak during the steps (`VmHWM` reset before them), seconds and process CPU
seconds per guided step after one warm-up step. The official code needs `torchvision` (for a grid
helper), `pytorch_lightning` and `open_clip` only for training and logging: where they are missing,
empty stand-ins are registered so that its modules import (they are not called here).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import types
from pathlib import Path

from anytext_step import report  # benchmarks/ is the script's folder, first on sys.path


def _status_mib(key: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:  # 5: reset VmHWM (Linux)
        handle.write("5")


def _stand_ins() -> None:
    """Empty modules for the official code's training/logging imports that are missing here."""
    import importlib.util

    import torch

    def module(name: str, **attrs) -> None:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        sys.modules[name] = mod

    def unavailable(*_args, **_kwargs):
        raise RuntimeError("a stand-in of the side-by-side benchmark was called")

    try:
        import torchvision.utils  # noqa: F401
    except Exception:  # missing, or installed for another torch (fails to import)
        module("torchvision", __path__=[])
        module("torchvision.utils", make_grid=unavailable)
    if importlib.util.find_spec("pytorch_lightning") is None:
        module("pytorch_lightning", LightningModule=torch.nn.Module, __path__=[])
        module("pytorch_lightning.utilities", __path__=[])
        module("pytorch_lightning.utilities.distributed", rank_zero_only=lambda f: f)
    if importlib.util.find_spec("open_clip") is None:
        module("open_clip", create_model_and_transforms=unavailable)


def _inputs(dtype):
    import torch

    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 64, 64, generator=g).to(dtype)
    context = torch.randn(1, 77, 768, generator=g).to(dtype)
    uncond = torch.randn(1, 77, 768, generator=g).to(dtype)
    glyphs = torch.zeros(1, 1, 1024, 1024, dtype=dtype)
    glyphs[..., 300:500, 200:800] = 1
    positions = torch.zeros(1, 1, 512, 512, dtype=dtype)
    positions[..., 150:250, 100:400] = 1
    masked_x = torch.randn(1, 4, 64, 64, generator=g).to(dtype)
    return latents, context, uncond, glyphs, positions, masked_x


def build_official(root: Path, dtype):
    """(ControlNet, ControlledUnetModel) of the official yaml, random weights, eval mode."""
    import torch
    import yaml

    sys.path.insert(0, str(root))
    _stand_ins()
    from cldm.cldm import ControlledUnetModel, ControlNet  # the official code (PATH/TO/AnyText)

    params = yaml.safe_load((root / "models_yaml" / "anytext_sd15.yaml").read_text())["model"]["params"]
    control = ControlNet(**params["control_stage_config"]["params"]).eval().to(dtype)
    unet = ControlledUnetModel(**params["unet_config"]["params"]).eval().to(dtype)
    torch.manual_seed(0)
    return control, unet


def step_official(models, inputs, t):
    control_model, unet = models
    latents, context, uncond, glyphs, positions, masked_x = inputs
    text_info = {"glyphs": [glyphs], "positions": [positions], "masked_x": masked_x}
    eps = []
    for ctx in (context, uncond):  # apply_model: control residuals (scales 1.0), then the UNet
        control = control_model(x=latents, hint=None, text_info=text_info, timesteps=t, context=ctx)
        eps.append(unet(x=latents, timesteps=t, context=ctx, control=list(control), only_mid_control=False))
    cond, un = eps
    return un + 9.0 * (cond - un)


def build_ours(dtype):
    from wenchuang.anytext.configs import AnyTextConfig
    from wenchuang.anytext.convert import build_models

    models = build_models(AnyTextConfig.full())
    return models["controlnet"].eval().to(dtype), models["unet"].eval().to(dtype)


def step_ours(models, inputs, t, state: dict):
    from wenchuang.anytext.pipeline import AnyTextPipeline

    controlnet, unet = models
    latents, context, uncond, glyphs, positions, masked_x = inputs
    if "hint" not in state:  # once per image, as `AnyTextPipeline.prepare_control_hint`
        state["hint"] = controlnet.encode_hint(glyphs, positions, masked_x)
    pipe = types.SimpleNamespace(controlnet=controlnet, unet=unet)
    pipe._unet_eps = types.MethodType(AnyTextPipeline._unet_eps, pipe)
    return AnyTextPipeline.predict_noise(pipe, latents, t, context, state["hint"], 1.0, uncond, 9.0)


def measure(impl: str, official: Path | None, dtype_name: str, steps: int) -> dict:
    import torch

    dtype = getattr(torch, dtype_name)
    result = {"impl": impl, "dtype": dtype_name, "torch_threads": torch.get_num_threads()}
    start = time.perf_counter()
    models = build_official(official, dtype) if impl == "official" else build_ours(dtype)
    result["build_seconds"] = round(time.perf_counter() - start, 1)
    result["parameters_m"] = round(sum(p.numel() for m in models for p in m.parameters()) / 1e6, 1)
    inputs = _inputs(dtype)
    t = torch.tensor([951])
    state: dict = {}
    result["rss_with_models_mib"] = round(_status_mib("VmRSS"))
    _reset_peak()
    walls, cpus = [], []
    with torch.no_grad():
        for _ in range(steps + 1):  # the first is a warm-up
            wall, cpu = time.perf_counter(), time.process_time()
            out = step_official(models, inputs, t) if impl == "official" else step_ours(models, inputs, t, state)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    assert out.shape == (1, 4, 64, 64) and torch.isfinite(out.float()).all()
    result["peak_rss_during_steps_mib"] = round(_status_mib("VmHWM"))
    result["peak_rss_process_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["seconds_per_step"] = round(sum(walls[1:]) / steps, 2)
    result["cpu_seconds_per_step"] = round(sum(cpus[1:]) / steps, 2)
    result["warmup_seconds"] = round(walls[0], 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, help="a checkout of github.com/tyxsspa/AnyText")
    parser.add_argument("--deps", help="a folder with the official code's extra packages (pip install --target)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--rounds", type=int, default=2, help="official/ours pairs, alternating (default 2)")
    parser.add_argument("--steps", type=int, default=2, help="timed guided steps per process (default 2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--impl", choices=["official", "ours"], help=argparse.SUPPRESS)  # internal: one child
    args = parser.parse_args()
    official = Path(args.official).resolve()
    if not (official / "cldm" / "cldm.py").is_file():
        parser.error(f"{official} is not a checkout of tyxsspa/AnyText (no cldm/cldm.py)")
    if args.impl:
        import torch

        if args.deps:
            sys.path.insert(0, str(Path(args.deps).resolve()))
        torch.set_num_threads(args.threads)
        print(json.dumps(measure(args.impl, official, args.dtype, args.steps)))
        return 0

    runs = []
    for round_no in range(args.rounds):
        for impl in ("official", "ours"):
            argv = [sys.executable, __file__, "--impl", impl, "--official", str(official), "--dtype", args.dtype,
                    "--steps", str(args.steps), "--threads", str(args.threads)]
            argv += ["--deps", args.deps] if args.deps else []
            proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ))
            if proc.returncode != 0:
                print(proc.stderr[-4000:], file=sys.stderr)
                return proc.returncode
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            run["round"], run["load_average_1min"] = round_no, round(os.getloadavg()[0], 1)
            runs.append(run)
            print(json.dumps(run), file=sys.stderr)
    summary = {}
    for key in ("seconds_per_step", "cpu_seconds_per_step", "peak_rss_during_steps_mib", "rss_with_models_mib"):
        pairs = [(o[key], u[key]) for o, u in zip(runs[::2], runs[1::2])]
        summary[f"{key}_ours_over_official"] = [round(u / o, 3) for o, u in pairs]
    result = {"dtype": args.dtype, "size": 512, "guidance": True, "runs": runs, "summary": summary}
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
