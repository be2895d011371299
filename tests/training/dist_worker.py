"""One process of a tiny `train text` job, for the 2-process and kill-and-resume tests.

Usage: python dist_worker.py SETTINGS_JSON DUMP_DIR [SECONDS_PER_STEP]
Trains, then writes DUMP_DIR/rankR.safetensors (trained weights and EMA) and DUMP_DIR/rankR.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

torch.set_num_threads(1)


def main() -> int:
    from safetensors.torch import save_file

    from wenchuang.training import common
    from wenchuang.training.text import TextConfig, TextTrainer

    settings, dump = json.loads(sys.argv[1]), Path(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    trainer = TextTrainer(TextConfig(**settings))
    result = trainer.train(callback=(lambda step, loss: time.sleep(delay)) if delay else None)
    state = common.trainable_state(trainer.modules)
    if trainer.ema is not None:
        state.update({f"ema.{i}": p.detach().clone() for i, p in enumerate(trainer.ema.shadow_params)})
    dump.mkdir(parents=True, exist_ok=True)
    save_file(state, str(dump / f"rank{trainer.rank}.safetensors"))
    info = {"losses": result.losses, "world": trainer.world, "lr": trainer.lr_scheduler.get_last_lr()}
    (dump / f"rank{trainer.rank}.json").write_text(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
