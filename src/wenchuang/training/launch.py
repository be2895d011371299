"""`--num-processes N`: run `train style|text` as N processes on this machine.

The command writes its configuration to ``OUT/launch-config.json`` and starts torch's own launcher
(``python -m torch.distributed.run``, one node, rendezvous on 127.0.0.1 at a free port), which runs
``python -m wenchuang.training.launch style|text OUT/launch-config.json`` once per process (one
GPU each where CUDA is present; gloo on the CPU otherwise). ``accelerate launch`` works as well: it
starts the same processes around the ordinary ``wenchuang train`` command.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from wenchuang.errors import WenchuangError

KINDS = ("style", "text")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_command(kind: str, config_path: str | Path, num_processes: int, port: int) -> list[str]:
    """The torchrun command line that runs `kind` training as `num_processes` local processes."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(num_processes),
        "--master-addr", "127.0.0.1", "--master-port", str(port),
        "-m", "wenchuang.training.launch", kind, str(config_path),
    ]  # fmt: skip


def launch(kind: str, config, num_processes: int) -> int:
    """Write `config` beside its output and run it as `num_processes` processes; the exit status."""
    if kind not in KINDS:
        raise WenchuangError(f"kind must be one of {KINDS}, not {kind!r}")
    if num_processes < 1:
        raise WenchuangError(f"--num-processes must be at least 1, not {num_processes}")
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "launch-config.json"
    path.write_text(json.dumps(dataclasses.asdict(config), indent=2, ensure_ascii=False), encoding="utf-8")
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # CPU processes talk over the loopback device only
    return subprocess.run(launch_command(kind, path, num_processes, free_port()), env=env).returncode


def run_from_file(kind: str, path: str | Path):
    """Build the trainer of `kind` from a written configuration and train (one process of several)."""
    settings = json.loads(Path(path).read_text(encoding="utf-8"))
    if kind == "style":
        from wenchuang.training.style import StyleConfig, train_style

        return train_style(StyleConfig(**settings))
    if kind == "text":
        from wenchuang.training.text import TextConfig, train_text

        return train_text(TextConfig(**settings))
    raise WenchuangError(f"kind must be one of {KINDS}, not {kind!r}")


def is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m wenchuang.training.launch style|text CONFIG.json", file=sys.stderr)
        return 2
    try:
        result = run_from_file(*argv)
    except WenchuangError as exc:
        print(f"wenchuang: error: {exc}", file=sys.stderr)
        return 2
    if is_main_rank():
        print(f"trained {result.steps} steps; final loss {result.final_loss:.4f}; output: {result.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
