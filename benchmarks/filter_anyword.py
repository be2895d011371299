"""Peak memory and speed of `wenchuang data filter-anyword` on a generated AnyWord-style file.

Usage: python benchmarks/filter_anyword.py [--entries 200000] [--keep FILE]

Writes a synthetic AnyWord-3M JSON file (random Chinese/Latin lines, some invalid, some watermark
text, varied sizes), runs the filter in a child process and reports the child's peak RSS (from
getrusage), the wall time and the filter statistics.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HAN = "文创三星堆金沙太阳神鸟青铜面具博物馆古蜀国纵目大立人龙凤纹礼器茶酒书画福寿喜乐春秋山水"
LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def write_file(path: Path, entries: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"data_root": "/data/anyword/imgs", "data_list": [')
        for i in range(entries):
            lines = []
            for _ in range(rng.randint(0, 7)):
                alphabet = HAN if rng.random() < 0.7 else LATIN
                text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
                if rng.random() < 0.02:
                    text = "www." + text + ".com"
                x, y = rng.randint(0, 400), rng.randint(0, 400)
                lines.append(
                    {
                        "polygon": [[x, y], [x + 100, y], [x + 100, y + 30], [x, y + 30]],
                        "text": text,
                        "language": "Chinese" if alphabet is HAN else "Latin",
                        "valid": rng.random() > 0.1,
                        "rec_score": round(rng.random(), 3),
                    }
                )
            item = {
                "img_name": f"{i:09d}.jpg",
                "caption": "a photo of a cultural product",
                "annotations": lines,
                "wm_score": round(rng.random() * 0.6, 3),
                "width": rng.choice([200, 512, 640, 1024]),
                "height": rng.choice([300, 512, 768]),
            }
            handle.write(("," if i else "") + "\n" + json.dumps(item, ensure_ascii=False))
        handle.write("\n]}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "anyword.json", Path(tmp) / "filtered.json"
        start = time.perf_counter()
        write_file(src, args.entries)
        size_mb = src.stat().st_size / 2**20
        print(f"generated {args.entries} entries, {size_mb:.1f} MB in {time.perf_counter() - start:.1f} s")
        command = [sys.executable, "-m", "wenchuang", "data", "filter-anyword", str(src), str(dst), "--quiet"]
        command += ["--min-rec-score", "0.5", "--stats", str(Path(tmp) / "stats.json")]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode:
            print(done.stdout, done.stderr)
            return done.returncode
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
        print(done.stdout.strip())
        print(f"input {size_mb:.1f} MB, output {dst.stat().st_size / 2**20:.1f} MB")
        print(
            f"filter wall time {elapsed:.1f} s ({args.entries / elapsed:,.0f} entries/s); peak RSS {peak_mb:.0f} MB"
        )
        return 0 if peak_mb <= 300 else 1


if __name__ == "__main__":
    sys.exit(main())
