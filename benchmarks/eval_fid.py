"""FID cost on this machine: Inception features per second and the Fréchet distance at 2048 dims.

Uses the FID Inception weights found by `wenchuang.evaluation.fid.find_inception_weights` (skips
the feature timing when there are none) and random 512x512 images.

    .venv/bin/python benchmarks/eval_fid.py [--images 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from wenchuang.errors import ModelError
from wenchuang.evaluation import fid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    # Fréchet distance alone, 2048-d, full-rank covariances (the real-benchmark case)
    feats_a, feats_b = rng.normal(size=(4096, 2048)), rng.normal(0.1, 1.1, size=(4096, 2048))
    (mu1, s1), (mu2, s2) = fid.statistics(feats_a), fid.statistics(feats_b)
    for method in ("eigh", "sqrtm"):
        t0 = time.perf_counter()
        value = fid.frechet_distance(mu1, s1, mu2, s2, method=method)
        print(f"Fréchet distance, 2048-d, method {method}: {time.perf_counter() - t0:.1f} s (value {value:.4f})")

    try:
        model = fid.load_fid_inception()
    except ModelError as exc:
        print(f"features: skipped ({exc})")
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.images):
            path = Path(tmp) / f"{i}.png"
            Image.fromarray(rng.integers(0, 255, size=(512, 512, 3), dtype=np.uint8)).save(path)
            files.append(path)
        fid.extract_features(model, files[:2], batch_size=2, progress=False)  # warm-up
        t0 = time.perf_counter()
        fid.extract_features(model, files, batch_size=10, progress=False)
        rate = len(files) / (time.perf_counter() - t0)
    print(f"Inception features: {rate:.2f} images/s on CPU with {args.threads} thread(s) ({model.weights_file})")


if __name__ == "__main__":
    main()
