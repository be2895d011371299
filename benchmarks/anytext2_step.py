"""AnyText2 speed and memory with the full-size model (random weights), beside AnyText's.

    .venv/bin/python benchmarks/anytext2_step.py [--steps 2] [--size 512] [--threads 2] [--no-anytext] [--json OUT]

Builds the full-size AnyText2 pipeline (AttnX UNet, WriteNet, VAE, a full CLIP ViT-L/14 text encoder,
both PP-OCRv3 recognisers) with random weights, saves it as a pipeline folder, then in a fresh
process measures the load time (`AnyText2Pipeline.from_pretrained`), the seconds per denoising step
with classifier-free guidance (two UNet calls with the cached WriteNet residuals) and the process's
peak RSS. Unless `--no-anytext`, `benchmarks/anytext_step.py` then measures AnyText the same way, so
both numbers come from the same machine and load. CPU only; prints one JSON object. Results are
recorded in docs/benchmarks.md.
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

from anytext_step import report  # benchmarks/ is the script's folder, first on sys.path

HERE = Path(__file__).resolve().parent


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(folder: Path) -> dict:
    """Full-size random AnyText2 pipeline saved to `folder / "pipe"` (fp32); returns parameter counts."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from wenchuang.anytext.random_models import FULL_CLIP, write_byte_tokenizer
    from wenchuang.anytext2.configs import AnyText2Config
    from wenchuang.anytext2.random_models import build_random_pipeline

    tokenizer = write_byte_tokenizer(folder / "_tokenizer_src")
    pipe = build_random_pipeline(AnyText2Config.full(), tokenizer)
    pipe.register_modules(text_encoder=CLIPTextModel(CLIPTextConfig(**FULL_CLIP)).eval())  # full CLIP
    counts = {
        name: round(sum(p.numel() for p in module.parameters()) / 1e6, 1)
        for name, module in pipe.components.items()
        if hasattr(module, "parameters")
    }
    pipe.save_pretrained(folder / "pipe")
    return counts


def measure(folder: Path, steps: int, size: int) -> dict:
    import torch

    from wenchuang.anytext2.pipeline import AnyText2Pipeline

    result: dict = {"model": "anytext2", "device": "cpu", "size": size, "torch_threads": torch.get_num_threads()}
    start = time.perf_counter()
    pipe = AnyText2Pipeline.from_pretrained(str(folder / "pipe"))
    result["load_seconds"] = round(time.perf_counter() - start, 2)
    pipe.set_progress_bar_config(disable=True)
    marks: list[float] = []
    box = [(100, 100), (400, 100), (400, 200), (100, 200)]
    start = time.perf_counter()
    pipe(
        prompt="a shop sign", texts=["文创"], polygons=[box], fonts=["noto-sans-sc"], colors=["#c83232"],
        width=size, height=size, num_inference_steps=steps + 1, generator=torch.Generator().manual_seed(0),
        output_type="latent", callback=lambda i, t, latents: marks.append(time.perf_counter()),
    )  # fmt: skip
    total = time.perf_counter() - start
    # per-step time from the step callbacks: excludes the text encoding, the masked-image VAE pass
    # and the two WriteNet runs, which happen once per image (before the first step)
    result["seconds_per_step_with_guidance"] = round((marks[-1] - marks[0]) / (len(marks) - 1), 2)
    result["seconds_before_first_step"] = round(total - (marks[-1] - marks[0]) - result["seconds_per_step_with_guidance"], 2)
    result["peak_rss_mib"] = round(_rss_mib())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2, help="steps to time (after one warm-up step)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2, help="torch threads in the measuring processes")
    parser.add_argument("--no-anytext", action="store_true", help="do not measure AnyText beside it")
    parser.add_argument("--json", metavar="OUT", help="also write the result here")
    parser.add_argument("--folder", help=argparse.SUPPRESS)  # internal: measuring child process
    args = parser.parse_args()

    if args.folder:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(measure(Path(args.folder), args.steps, args.size)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory(prefix="anytext2_bench_") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        counts = prepare(folder)
        prepare_seconds = time.perf_counter() - start
        cmd = [sys.executable, __file__, "--steps", str(args.steps), "--size", str(args.size),
               "--threads", str(args.threads), "--folder", str(folder)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        anytext2 = json.loads(proc.stdout.strip().splitlines()[-1])
    anytext2["parameters_millions"] = counts
    anytext2["build_and_save_seconds"] = round(prepare_seconds, 1)
    result = {"anytext2": anytext2, "load_average_1min_after_anytext2": round(os.getloadavg()[0], 1)}
    if not args.no_anytext:
        cmd = [sys.executable, str(HERE / "anytext_step.py"), "--steps", str(args.steps), "--size", str(args.size)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:  # keep AnyText2's numbers
            print(proc.stderr, file=sys.stderr)
            result["anytext"] = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
        else:
            result["anytext"] = json.loads(proc.stdout[proc.stdout.index("{") :])
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
