"""AnyText speed and memory with the full-size model (SD1.5 + text ControlNet shapes, random weights).

    .venv/bin/python benchmarks/anytext_step.py [--device cpu|cuda] [--steps 2] [--size 512] [--json OUT]

CPU (default): builds the full-size pipeline with random weights, saves it as a pipeline folder,
then in a fresh process measures the load time (`AnyTextPipeline.from_pretrained`), seconds per
denoising step with classifier-free guidance (ControlNet + UNet, conditional and unconditional)
and the process's peak RSS.
CUDA: fp16, seconds per image for 20 steps, and peak VRAM without and with model CPU offload.
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


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(folder: Path) -> None:
    """Full-size random pipeline saved to `folder` (fp32)."""
    from wenchuang.anytext.configs import AnyTextConfig
    from wenchuang.anytext.random_models import FULL_CLIP, build_random_pipeline, write_byte_tokenizer

    tokenizer = write_byte_tokenizer(folder / "_tokenizer_src")
    pipe = build_random_pipeline(AnyTextConfig.full(), tokenizer, clip=FULL_CLIP)
    pipe.save_pretrained(folder / "pipe")


def _conditions(size: int):
    import numpy as np

    from wenchuang.anytext.pipeline import AnyTextConditions

    glyph = np.zeros((2 * size, 2 * size), np.float32)
    glyph[200:400:3, 200:800] = 1
    pos = np.zeros((size, size), np.float32)
    pos[100:200, 100:400] = 1
    line = np.zeros((80, 512), np.float32)
    line[20:60, 20:300] = 1
    return AnyTextConditions(["文创"], [glyph], [line], [pos], pos.copy())


def measure(folder: Path, device: str, steps: int, size: int) -> dict:
    import torch

    from wenchuang.anytext.pipeline import AnyTextPipeline

    result: dict = {"device": device, "size": size, "torch_threads": torch.get_num_threads()}
    dtype = torch.float16 if device == "cuda" else torch.float32
    start = time.perf_counter()
    pipe = AnyTextPipeline.from_pretrained(str(folder / "pipe"), dtype=dtype)
    result["load_seconds"] = round(time.perf_counter() - start, 2)
    pipe.set_progress_bar_config(disable=True)
    cond = _conditions(size)

    def run(n_steps: int) -> float:
        marks: list[float] = []
        start = time.perf_counter()
        pipe(
            'a sign that reads "文创"', conditions=cond, width=size, height=size, num_inference_steps=n_steps,
            generator=torch.Generator().manual_seed(0), output_type="latent",
            callback_on_step_end=lambda pipe, i, t, tensors: marks.append(time.perf_counter()) or {},
        )
        # per-step time from the step callbacks (excludes text encoding and the masked-image VAE pass)
        return (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else time.perf_counter() - start

    if device == "cpu":
        result["seconds_per_step_with_guidance"] = round(run(steps + 1), 2)
        result["peak_rss_mib"] = round(_rss_mib())
        return result

    pipe.to("cuda")
    run(2)  # warm-up
    for offload in (False, True):
        if offload:
            pipe.to("cpu")
            pipe.enable_model_cpu_offload()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        pipe('a sign that reads "文创"', conditions=cond, width=size, height=size, num_inference_steps=20,
             generator=torch.Generator().manual_seed(0))
        torch.cuda.synchronize()
        key = "offload" if offload else "no_offload"
        result[f"fp16_seconds_per_image_20_steps_{key}"] = round(time.perf_counter() - start, 2)
        result[f"peak_vram_gib_{key}"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=2, help="CPU: steps to time (after one warm-up step)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--json", metavar="OUT", help="also write the result here")
    parser.add_argument("--folder", help=argparse.SUPPRESS)  # internal: measuring child process
    args = parser.parse_args()

    if args.folder:
        print(json.dumps(measure(Path(args.folder), args.device, args.steps, args.size)))
        return 0
    with tempfile.TemporaryDirectory(prefix="anytext_bench_") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        prepare(folder)
        prepare_seconds = time.perf_counter() - start
        cmd = [sys.executable, __file__, "--device", args.device, "--steps", str(args.steps),
               "--size", str(args.size), "--folder", str(folder)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["build_and_save_seconds"] = round(prepare_seconds, 1)
    result["load_average_1min"] = round(os.getloadavg()[0], 1)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
