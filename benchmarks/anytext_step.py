"""AnyText speed, memory and bf16 error with the full-size model (SD1.5 + text ControlNet shapes, random weights).

    .venv/bin/python benchmarks/anytext_step.py [--device cpu|cuda] [--dtype float32,bfloat16]
        [--sampler NAME] [--steps N] [--size 512] [--threads 2] [--json OUT]
    .venv/bin/python benchmarks/anytext_step.py --golden [--dtype float32,bfloat16]   # tiny golden model

CPU: builds the full-size pipeline with random weights (in a child process), saves it as one pipeline
folder per dtype (a bf16 folder is what `wenchuang convert anytext --dtype bfloat16` writes), then
for each dtype in a fresh process: load time, time to the first denoising step from the cold start
(load + prompt + first step), seconds per denoising step with classifier-free guidance (ControlNet +
UNet, conditional and unconditional; from the second step on), seconds per image (whole call,
decode included) with `--sampler` at `--steps`, and the process's peak RSS. With two dtypes it
prints the ratios (second / first) and the second's error against the first at each stage:
prompt context, latent after the first step, final latent (relative max error) and the decoded
image (PSNR, dB).
CUDA: per dtype, seconds per image and peak VRAM with and without model CPU offload (`gpu_check.sh`).
`--golden`: the same stage errors on the tiny golden model (tests/golden, official key format).
Prints one JSON object. Results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = 'a sign that reads "文创"'


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(folder: Path, dtypes: list[str], tiny: bool = False) -> None:
    """Full-size (or, for a dry run, tiny) random pipeline saved to `folder / dtype` for each dtype."""
    import torch

    from wenchuang.anytext.configs import AnyTextConfig
    from wenchuang.anytext.random_models import (
        FULL_CLIP,
        build_random_pipeline,
        tiny_config,
        write_byte_tokenizer,
    )

    dtypes = [n for n in dtypes if not (folder / n / "model_index.json").is_file()]  # reuse saved ones
    if not dtypes:
        return
    tokenizer = write_byte_tokenizer(folder / "_tokenizer_src")
    if tiny:
        pipe = build_random_pipeline(tiny_config(), tokenizer)
    else:
        pipe = build_random_pipeline(AnyTextConfig.full(), tokenizer, clip=FULL_CLIP)
    for name in sorted(dtypes, key=lambda n: n != "float32"):  # float32 first, then cast in place
        for module in pipe.components.values():
            if isinstance(module, torch.nn.Module):
                torch.nn.Module.to(module, dtype=getattr(torch, name))
        pipe.save_pretrained(folder / name)


def _conditions(size: int):
    import numpy as np

    from wenchuang.anytext.pipeline import AnyTextConditions

    glyph = np.zeros((2 * size, 2 * size), np.float32)
    glyph[size // 2 : size:3, size // 2 : 3 * size // 2] = 1
    pos = np.zeros((size, size), np.float32)
    pos[size // 5 : 2 * size // 5, size // 5 : 4 * size // 5] = 1
    line = np.zeros((80, 512), np.float32)
    line[20:60, 20:300] = 1
    return AnyTextConditions(["文创"], [glyph], [line], [pos], pos.copy())


class _Marks(list):
    """Peak RSS after each step; `.cpu` holds the process CPU time at each step's end."""

    def __init__(self):
        super().__init__()
        self.cpu: list[float] = []


def run_stages(
    pipe, size: int, steps: int, output_type: str = "np", rss_marks: list | None = None
) -> tuple[dict, list[float], object]:
    """One image: (stage tensors, time of each step's end, output). Stages: context (prompt), step0
    (latent after the first step), latent (final), and `decoded` is the output image."""
    import torch

    stages: dict = {}
    marks: list[float] = []
    cpu_marks = rss_marks.cpu if rss_marks is not None and hasattr(rss_marks, "cpu") else []

    def on_step(_pipe, i, _t, tensors):
        marks.append(time.perf_counter())
        if rss_marks is not None:
            rss_marks.append(_rss_mib())
            cpu_marks.append(time.process_time())
        if i == 0:
            stages["context"] = tensors["prompt_embeds"][0].float().cpu().clone()
            stages["step0"] = tensors["latents"].float().cpu().clone()
        stages["latent"] = tensors["latents"].float().cpu().clone()
        return tensors

    out = pipe(
        PROMPT, conditions=_conditions(size), width=size, height=size, num_inference_steps=steps,
        generator=torch.Generator().manual_seed(0), output_type=output_type,
        callback_on_step_end=on_step, callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"],
    )
    return stages, marks, out


def measure_cpu(folder: Path, dtype: str, sampler: str, steps: int, size: int, save: Path | None) -> dict:
    import numpy as np
    import torch

    from wenchuang.anytext.loading import load_pipeline
    from wenchuang.anytext.schedulers import set_sampler

    result: dict = {"device": "cpu", "dtype": dtype, "size": size, "sampler": sampler, "steps": steps,
                    "torch_threads": torch.get_num_threads()}
    cold = time.perf_counter()
    pipe = load_pipeline(str(folder), torch_dtype=getattr(torch, dtype))
    result["load_seconds"] = round(time.perf_counter() - cold, 2)
    result["peak_rss_after_load_mib"] = round(_rss_mib())
    pipe.set_progress_bar_config(disable=True)
    set_sampler(pipe, sampler)
    start = time.perf_counter()
    with torch.no_grad():
        stages, marks, out = run_stages(pipe, size, steps, rss_marks=(rss := _Marks()))
    end = time.perf_counter()
    result["peak_rss_after_sampling_mib"] = round(rss[-1])  # before the VAE decode
    if len(rss.cpu) > 1:  # CPU time of this process: less sensitive than wall time to other jobs on the cores
        result["cpu_seconds_per_step"] = round((rss.cpu[-1] - rss.cpu[0]) / (len(rss.cpu) - 1), 2)
    result["time_to_first_step_seconds"] = round(marks[0] - cold, 2)
    if len(marks) > 1:
        result["seconds_per_step_with_guidance"] = round((marks[-1] - marks[0]) / (len(marks) - 1), 2)
    result["seconds_per_image"] = round(end - start, 2)
    result["decode_seconds"] = round(end - marks[-1], 2)
    result["peak_rss_mib"] = round(_rss_mib())  # the whole process: load, sampling and decode
    if save is not None:
        from safetensors.torch import save_file

        stages["decoded"] = torch.from_numpy(np.asarray(out.images[0]).astype(np.float32))
        save_file({k: v.contiguous() for k, v in stages.items()}, str(save))
    return result


def measure_cuda(folder: Path, dtype: str, sampler: str, steps: int, size: int) -> dict:
    import torch

    from wenchuang.anytext.loading import load_pipeline
    from wenchuang.anytext.schedulers import set_sampler

    result: dict = {"device": torch.cuda.get_device_name(0), "dtype": dtype, "size": size, "sampler": sampler,
                    "steps": steps}
    cold = time.perf_counter()
    pipe = load_pipeline(str(folder), torch_dtype=getattr(torch, dtype))
    pipe.set_progress_bar_config(disable=True)
    set_sampler(pipe, sampler)
    pipe.to("cuda")
    with torch.no_grad():
        _, marks, _ = run_stages(pipe, size, 1, output_type="latent")  # warm-up (kernels, cuDNN)
        torch.cuda.synchronize()
        result["time_to_first_step_seconds"] = round(marks[0] - cold, 2)
        for offload in (False, True):
            if offload:
                pipe.to("cpu")
                pipe.enable_model_cpu_offload()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            run_stages(pipe, size, steps)
            torch.cuda.synchronize()
            key = "offload" if offload else "no_offload"
            result[f"seconds_per_image_{key}"] = round(time.perf_counter() - start, 2)
            result[f"peak_vram_gib_{key}"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return result


def stage_errors(reference: dict, other: dict) -> dict:
    """Relative max error per stage (max|a - b| / max|b|) and the decoded image's PSNR in dB."""
    import math

    errors = {}
    for name in ("context", "step0", "latent"):
        ref, got = reference[name].double(), other[name].double()
        errors[f"{name}_rel_max_error"] = round(float((got - ref).abs().max() / ref.abs().max()), 5)
    mse = float(((other["decoded"].double() - reference["decoded"].double()) ** 2).mean())
    errors["decoded_psnr_db"] = round(10 * math.log10(255**2 / mse), 2) if mse > 0 else float("inf")
    errors["decoded_max_abs_diff"] = float((other["decoded"] - reference["decoded"]).abs().max())
    return errors


def golden(dtypes: list[str], steps: int, size: int) -> dict:
    """Stage errors of each dtype against the first on the tiny golden model (cast after loading)."""
    import torch

    from wenchuang.anytext.parity import load_golden_pipeline

    root = Path(__file__).resolve().parents[1] / "tests" / "golden"
    runs = {}
    for name in dtypes:
        pipe = load_golden_pipeline(root)
        for module in pipe.components.values():
            if isinstance(module, torch.nn.Module):
                torch.nn.Module.to(module, dtype=getattr(torch, name))
        pipe.set_progress_bar_config(disable=True)
        with torch.no_grad():
            stages, _, out = run_stages(pipe, size, steps)
        stages["decoded"] = torch.from_numpy(out.images[0].astype("float32"))
        runs[name] = stages
    result = {"model": "tests/golden (tiny, official key format)", "size": size, "steps": steps, "sampler": "ddim"}
    for name in dtypes[1:]:
        result[f"{name}_vs_{dtypes[0]}"] = stage_errors(runs[dtypes[0]], runs[name])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default=None, help="comma-separated dtypes (default: float32 on CPU, "
                        "float16 on CUDA); the first is the reference of ratios and errors")
    parser.add_argument("--sampler", default="ddim", help="sampler (wenchuang.request.SAMPLERS; default ddim)")
    parser.add_argument("--steps", type=int, default=3, help="steps per image (CPU default 3: the first is "
                        "not timed; CUDA default 20)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--golden", action="store_true", help="stage errors on the tiny golden model only")
    parser.add_argument("--json", metavar="OUT", help="also write the result here")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model instead (checks the script)")
    parser.add_argument("--models", metavar="DIR", help="keep the saved random pipelines here and reuse them "
                        "in later runs (default: a temporary folder)")
    parser.add_argument("--folder", help=argparse.SUPPRESS)  # internal: measuring child process
    parser.add_argument("--save", help=argparse.SUPPRESS)  # internal: where the child puts its stages
    parser.add_argument("--prepare", help=argparse.SUPPRESS)  # internal: build + save child process
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    dtypes = (args.dtype or ("float16" if args.device == "cuda" else "float32")).split(",")

    if args.prepare:
        prepare(Path(args.prepare), dtypes, tiny=args.tiny)
        return 0
    if args.folder:
        if args.device == "cuda":
            result = measure_cuda(Path(args.folder), dtypes[0], args.sampler, args.steps, args.size)
        else:
            save = Path(args.save) if args.save else None
            result = measure_cpu(Path(args.folder), dtypes[0], args.sampler, args.steps, args.size, save)
        print(json.dumps(result))
        return 0
    if args.golden:
        result = golden(dtypes, args.steps, args.size)
        return report(result, args.json)

    steps = args.steps if args.device == "cpu" or "--steps" in sys.argv else 20
    common = ["--device", args.device, "--sampler", args.sampler, "--steps", str(steps), "--size", str(args.size)]
    common += ["--threads", str(args.threads)] if args.threads else []
    result: dict = {"runs": {}}
    with tempfile.TemporaryDirectory(prefix="anytext_bench_") as tmp:
        folder = Path(args.models) if args.models else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        _child([*common, "--dtype", ",".join(dtypes), "--prepare", str(folder), *(["--tiny"] if args.tiny else [])])
        result["model"] = "tiny random" if args.tiny else "full-size random (released shapes)"
        result["build_and_save_seconds"] = round(time.perf_counter() - start, 1)
        for name in dtypes:  # one fresh process per dtype, one after the other
            extra = ["--save", str(Path(tmp) / f"stages_{name}.safetensors")] if args.device == "cpu" else []
            result["runs"][name] = _child([*common, "--dtype", name, "--folder", str(folder / name), *extra])
        if args.device == "cpu" and len(dtypes) > 1:
            from safetensors.torch import load_file

            ref = result["runs"][dtypes[0]]
            stages = {n: load_file(str(Path(tmp) / f"stages_{n}.safetensors")) for n in dtypes}
            for name in dtypes[1:]:
                run = result["runs"][name]
                ratios = {"peak_rss": round(run["peak_rss_mib"] / ref["peak_rss_mib"], 3)}
                if "cpu_seconds_per_step" in ref:
                    ratios["step_cpu_time"] = round(run["cpu_seconds_per_step"] / ref["cpu_seconds_per_step"], 3)
                if "seconds_per_step_with_guidance" in ref:
                    ratios["step_time"] = round(
                        run["seconds_per_step_with_guidance"] / ref["seconds_per_step_with_guidance"], 3
                    )
                ratios["image_time"] = round(run["seconds_per_image"] / ref["seconds_per_image"], 3)
                result[f"{name}_vs_{dtypes[0]}"] = {"ratios": ratios, "errors": stage_errors(stages[dtypes[0]], stages[name])}
    result["load_average_1min"] = round(os.getloadavg()[0], 1)
    return report(result, args.json)


def _child(argv: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(proc.returncode)
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def report(result: dict, json_path: str | None) -> int:
    """Print `result` as JSON and also write it to `json_path` when given (shared by the benchmarks)."""
    text = json.dumps(result, indent=1)
    print(text)
    if json_path:
        Path(json_path).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
