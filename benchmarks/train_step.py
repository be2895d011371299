"""Speed and peak memory of one `train text` step with the full-size AnyText structure (random weights).

    .venv/bin/python benchmarks/train_step.py [--device cpu|cuda] [--size 512] [--steps 2]
        [--mixed-precision no|fp16|bf16] [--gradient-checkpointing] [--max-rss-gb 18] [--json OUT]

Builds the full-size pipeline (SD1.5 UNet, VAE, CLIP ViT-L text encoder, text ControlNet, OCR
recogniser) with random weights, saves it to a temporary folder, writes a one-image AnyWord file
(two text lines), then in a fresh process builds `TextTrainer` (ControlNet + projection trained,
AdamW, OCR loss on, batch 1) and times one warm-up step and `--steps` measured steps. Reports the
parameter count of each module, seconds per step, the process's peak RSS and, on CUDA, the peak
allocated GPU memory. The parent kills the child when its RSS passes `--max-rss-gb` (a shared
machine). Prints one JSON object; results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def prepare(folder: Path) -> None:
    """The full-size random pipeline in `folder/pipe` and a one-entry AnyWord file `folder/anyword.json`."""
    from PIL import Image, ImageDraw

    from wenchuang.anytext.configs import AnyTextConfig
    from wenchuang.anytext.random_models import FULL_CLIP, build_random_pipeline, write_byte_tokenizer
    from wenchuang.layout.fonts import load_font

    tokenizer = write_byte_tokenizer(folder / "_tokenizer_src")
    pipe = build_random_pipeline(AnyTextConfig.full(), tokenizer, clip=FULL_CLIP)
    pipe.save_pretrained(folder / "pipe")
    del pipe
    image = Image.new("RGB", (512, 512), (230, 220, 200))
    draw = ImageDraw.Draw(image)
    draw.text((60, 100), "三星堆文创", font=load_font(None, 64), fill=(20, 20, 20))
    draw.text((60, 300), "SANXINGDUI", font=load_font(None, 56), fill=(120, 20, 20))
    image.save(folder / "0.png")
    lines = [
        {"polygon": [[50, 90], [400, 90], [400, 180], [50, 180]], "text": "三星堆文创", "language": "Chinese"},
        {"polygon": [[50, 290], [460, 290], [460, 370], [50, 370]], "text": "SANXINGDUI", "language": "Latin"},
    ]
    doc = {"data_root": str(folder), "data_list": [{"img_name": "0.png", "caption": "a poster", "annotations": lines}]}
    (folder / "anyword.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def measure(folder: Path, args) -> dict:
    import torch

    from wenchuang.training.text import TextConfig, TextTrainer

    config = TextConfig(
        model=str(folder / "pipe"), data=[str(folder / "anyword.json")], output_dir=str(folder / "out"),
        resolution=args.size, batch_size=1, max_steps=args.steps + 1, checkpoint_steps=0,
        mixed_precision=args.mixed_precision, gradient_checkpointing=args.gradient_checkpointing,
        progress=False, mask_image_prob=0.5,
    )  # fmt: skip
    start = time.perf_counter()
    trainer = TextTrainer(config)
    result: dict = {
        "device": str(trainer.device), "size": args.size, "mixed_precision": args.mixed_precision,
        "gradient_checkpointing": args.gradient_checkpointing, "torch_threads": torch.get_num_threads(),
        "setup_s": round(time.perf_counter() - start, 1),
    }  # fmt: skip
    params = {
        name: sum(p.numel() for p in getattr(trainer.pipe, name).parameters())
        for name in ("unet", "controlnet", "vae", "text_encoder", "text_embedding", "recognizer")
    }
    result["parameters_m"] = {k: round(v / 1e6, 1) for k, v in params.items()}
    result["trained_parameters_m"] = round(sum(p.numel() for p in trainer.params) / 1e6, 1)
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []

    def timed(step, loss):
        times.append(time.perf_counter())

    times.append(time.perf_counter())
    from wenchuang.training import common

    common.run_steps(trainer, trainer.params, "bench", timed)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
        result["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    steps = [b - a for a, b in zip(times, times[1:])]
    result["warmup_step_s"] = round(steps[0], 2)
    result["step_s"] = round(sum(steps[1:]) / len(steps[1:]), 2)
    result["steps_per_s"] = round(1 / result["step_s"], 4)
    result["loss"] = round(trainer.losses[-1], 4)
    result["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return result


def _rss_gib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--max-rss-gb", type=float, default=18.0)
    parser.add_argument("--json", help="also write the result here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child), args)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        prepare(folder)
        print(f"built and saved the full-size pipeline in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        env = dict(os.environ)
        if args.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        command = [sys.executable, __file__, "--child", str(folder), "--size", str(args.size),
                   "--steps", str(args.steps), "--mixed-precision", args.mixed_precision]  # fmt: skip
        if args.gradient_checkpointing:
            command.append("--gradient-checkpointing")
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        killed = threading.Event()

        def guard() -> None:
            while child.poll() is None:
                if _rss_gib(child.pid) > args.max_rss_gb:
                    killed.set()
                    child.kill()
                time.sleep(0.2)

        threading.Thread(target=guard, daemon=True).start()
        out, _ = child.communicate()
        if killed.is_set():
            print(json.dumps({"error": f"killed: RSS above {args.max_rss_gb} GiB", "size": args.size}))
            return 1
        if child.returncode:
            return child.returncode
        result = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
