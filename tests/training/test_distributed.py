"""Several processes, kill-and-resume, schedules and the memory options of the trainers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from wenchuang.training import common
from wenchuang.training.launch import launch_command
from wenchuang.training.text import TextConfig, TextTrainer

WORKER = Path(__file__).resolve().parent / "dist_worker.py"


def settings(model, data, out, **overrides) -> dict:
    values = dict(
        model=str(model), data=[str(data)], output_dir=str(out), resolution=64, batch_size=1,
        gradient_accumulation=2, learning_rate=5e-3, max_steps=3, checkpoint_steps=2, progress=False,
        seed=4, ema=True, ema_decay=0.9, lr_scheduler="linear", lr_warmup_steps=1,
    )  # fmt: skip
    values.update(overrides)
    return values


def worker_env(rank: int, world: int, port: int) -> dict:
    env = dict(os.environ)
    env.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1",
        CUDA_VISIBLE_DEVICES="",
    )  # fmt: skip
    return env


def test_shards_split_the_global_batch_without_repeats():
    for step in range(7):
        whole = common.sample_indices(10, step, 4, seed=2)
        parts = [common.shard_indices(10, step, 2, 2, rank, 2) for rank in range(2)]
        assert parts[0] + parts[1] == whole and len(set(whole)) == 4
    # over an epoch (5 steps of 2 x 1) every item is drawn exactly once
    drawn = [i for step in range(5) for rank in range(2) for i in common.shard_indices(10, step, 1, 0, rank, 2)]
    assert sorted(drawn) == list(range(10))
    a, b = common.sample_generators(1, 3, 0, 2), common.sample_generators(1, 3, 1, 1)
    assert torch.equal(torch.randn(3, generator=a[1]), torch.randn(3, generator=b[0]))  # sample 1 = sample 1
    assert common.derived_seed(1, 2, 3) != common.derived_seed(1, 3, 2)


def test_launch_command_is_local():
    command = launch_command("text", "/o/launch-config.json", 8, 29555)
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[command.index("--nproc-per-node") + 1] == "8"
    assert command[command.index("--master-addr") + 1] == "127.0.0.1"
    assert command[-4:] == ["-m", "wenchuang.training.launch", "text", "/o/launch-config.json"]


def test_two_processes_equal_one_with_the_global_batch(tiny_anytext, anyword_data, tmp_path):
    from wenchuang.training.launch import free_port

    port = free_port()
    procs = []
    for rank in range(2):
        cfg = settings(tiny_anytext, anyword_data, tmp_path / f"out{rank}")
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), json.dumps(cfg), str(tmp_path / "dump")],
                env=worker_env(rank, 2, port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        )
    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output[-3000:]
    ranks = [load_file(str(tmp_path / "dump" / f"rank{r}.safetensors")) for r in range(2)]
    infos = [json.loads((tmp_path / "dump" / f"rank{r}.json").read_text()) for r in range(2)]
    assert [i["world"] for i in infos] == [2, 2]
    assert ranks[0].keys() == ranks[1].keys() and any(k.startswith("ema.") for k in ranks[0])
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key  # both ranks hold the same weights

    # one process with the same global batch (2 per micro step) and the same seed
    single = TextTrainer(TextConfig(**settings(tiny_anytext, anyword_data, tmp_path / "single", batch_size=2)))
    single.train()
    state = common.trainable_state(single.modules)
    state.update({f"ema.{i}": p for i, p in enumerate(single.ema.shadow_params)})
    fresh = TextTrainer(TextConfig(**settings(tiny_anytext, anyword_data, tmp_path / "x", batch_size=2)))
    original = common.trainable_state(fresh.modules)
    fresh.step_loss(0).backward()
    # a bias feeding a GroupNorm has a true gradient of zero: what it gets is rounding noise, which
    # Adam (dividing by its root mean square) turns into steps of ±lr, so summation order decides them
    grad_max = {f"{prefix}.{n}": p.grad.abs().max() for prefix, m in fresh.modules.items()
                for n, p in m.named_parameters() if p.grad is not None}  # fmt: skip
    largest = max(grad_max.values())
    noise = {key for key, g in grad_max.items() if g < 1e-6 * largest}
    assert len(noise) < 0.2 * len(grad_max)
    names = [f"{prefix}.{n}" for prefix, m in fresh.modules.items() for n, _ in m.named_parameters()]
    noise |= {f"ema.{i}" for i, name in enumerate(names) if name in noise}  # EMA follows params' order
    moved = 0
    for key, value in state.items():
        if key in noise:
            continue
        # small gradients (deep in the glyph encoder) leave Adam's steps slightly order-sensitive too
        torch.testing.assert_close(ranks[0][key], value.float(), atol=2e-5, rtol=1e-4, msg=key)
        moved += key in original and (original[key] - value).abs().max() > 1e-3
    assert moved > 0  # training moved the weights far more than the tolerance
    assert infos[0]["losses"] == pytest.approx(single.losses, rel=1e-4)
    assert infos[0]["lr"] == pytest.approx(single.lr_scheduler.get_last_lr())
    # only the main process wrote checkpoints and the output
    assert [p.name for p in common.list_checkpoints(tmp_path / "out0" / "checkpoints")] == ["checkpoint-2"]
    assert (tmp_path / "out0" / "model_index.json").is_file()
    assert not (tmp_path / "out1" / "checkpoints").exists() and not (tmp_path / "out1" / "model_index.json").exists()


def test_a_run_killed_with_sigkill_resumes_to_the_same_weights(tiny_anytext, anyword_data, tmp_path):
    overrides = dict(max_steps=6, checkpoint_steps=1, checkpoints_total_limit=2, batch_size=2)
    cfg = settings(tiny_anytext, anyword_data, tmp_path / "run", **overrides)
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(cfg), str(tmp_path / "dump"), "1.0"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    folder = tmp_path / "run" / "checkpoints"
    deadline = time.monotonic() + 240
    try:
        while not (folder / "checkpoint-3").is_dir():
            assert proc.poll() is None, "the training process ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint-3 in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in common.list_checkpoints(folder)]
    # the newest two are kept (three when the kill fell between a rename and the pruning); unfinished
    assert "checkpoint-3" in left and len(left) <= 3 and "checkpoint-6" not in left
    assert not (tmp_path / "run" / "model_index.json").exists()

    resumed = TextTrainer(TextConfig(**{**cfg, "resume": "latest"}))
    resumed.train()
    straight = TextTrainer(TextConfig(**settings(tiny_anytext, anyword_data, tmp_path / "straight", **overrides)))
    straight.train()
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-5)
    a, b = common.trainable_state(straight.modules), common.trainable_state(resumed.modules)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)
    for x, y in zip(straight.ema.shadow_params, resumed.ema.shadow_params):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=1e-5)
    assert resumed.lr_scheduler.state_dict() == straight.lr_scheduler.state_dict()
    assert resumed.optimizer.state_dict()["state"][0]["step"] == straight.optimizer.state_dict()["state"][0]["step"]


def test_checkpoints_are_atomic_and_only_the_last_k_are_kept(tmp_path):
    module = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(module.parameters())
    scheduler = common.make_lr_scheduler(optimizer, "cosine", 2, 10)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    half = folder / ".checkpoint-9.tmp"  # what a run killed while writing leaves
    half.mkdir()
    (half / "state.json").write_text("{")
    assert common.find_checkpoint("latest", folder) is None  # a half-written checkpoint is never read
    for step in (1, 2, 3, 4):
        optimizer.step()
        scheduler.step()
        common.save_checkpoint(folder, step, {"m": module}, optimizer, keep=2, scheduler=scheduler)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-3", "checkpoint-4"]  # .tmp removed
    assert json.loads((folder / "checkpoint-4" / "state.json").read_text())["step"] == 4
    fresh = common.make_lr_scheduler(optimizer, "cosine", 2, 10)
    step, _, _ = common.load_checkpoint(common.find_checkpoint("latest", folder), {"m": module}, optimizer, fresh)
    assert step == 4 and fresh.state_dict() == scheduler.state_dict()
    with pytest.raises(Exception, match="lr_scheduler must be one of"):
        common.make_lr_scheduler(optimizer, "exotic", 0, 10)


def test_scale_lr_uses_the_effective_batch(tiny_anytext, anyword_data, tmp_path):
    trainer = TextTrainer(TextConfig(**settings(tiny_anytext, anyword_data, tmp_path / "o", batch_size=3,
                                                scale_lr=True, lr_scheduler="constant", lr_warmup_steps=0)))  # fmt: skip
    assert trainer.effective_batch == 6 and trainer.learning_rate == pytest.approx(6 * 5e-3)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(6 * 5e-3)


# ------------------------------------------------------------------ memory options
def test_text_gradient_checkpointing_is_applied_and_changes_no_gradient(tiny_anytext, anyword_data, tmp_path):
    grads = {}
    for flag in (False, True):
        trainer = TextTrainer(TextConfig(**settings(tiny_anytext, anyword_data, tmp_path / str(flag), ema=False,
                                                    gradient_checkpointing=flag)))  # fmt: skip
        assert common.uses_gradient_checkpointing(trainer.controlnet) is flag
        assert common.uses_gradient_checkpointing(trainer.pipe.unet) is flag
        trainer.step_loss(0).backward()
        grads[flag] = torch.cat([p.grad.flatten() for p in trainer.params if p.grad is not None])
    torch.testing.assert_close(grads[True], grads[False], atol=1e-6, rtol=1e-5)


def test_text_bf16_keeps_frozen_weights_in_bf16_and_trains_in_fp32(tiny_anytext, anyword_data, tmp_path):
    cfg = settings(tiny_anytext, anyword_data, tmp_path / "bf16", mixed_precision="bf16", max_steps=1, ema=False)
    trainer = TextTrainer(TextConfig(**cfg))
    assert trainer.pipe.unet.dtype == torch.bfloat16 and trainer.pipe.vae.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in trainer.params)
    assert trainer.accelerator.mixed_precision == "bf16"
    result = trainer.train()
    assert result.steps == 1 and result.final_loss > 0


def test_text_fp16_puts_the_frozen_weights_in_fp16(tiny_anytext, anyword_data, tmp_path):
    cfg = settings(tiny_anytext, anyword_data, tmp_path / "fp16", mixed_precision="fp16", ema=False)
    trainer = TextTrainer(TextConfig(**cfg))
    assert trainer.pipe.unet.dtype == torch.float16 and trainer.pipe.text_encoder.dtype == torch.float16
    assert all(p.dtype == torch.float32 for p in trainer.params)
    assert trainer.accelerator.mixed_precision == "fp16"


class FakeAdamW8bit(torch.optim.AdamW):
    pass


def test_8bit_adam_is_used_when_bitsandbytes_is_installed(monkeypatch, tiny_anytext, anyword_data, tmp_path):
    import types

    fake = types.ModuleType("bitsandbytes")
    fake.optim = types.SimpleNamespace(AdamW8bit=FakeAdamW8bit)
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake)
    cfg = settings(tiny_anytext, anyword_data, tmp_path / "o", use_8bit_adam=True, ema=False)
    trainer = TextTrainer(TextConfig(**cfg))
    assert isinstance(trainer.optimizer.optimizer, FakeAdamW8bit)
    plain = TextTrainer(TextConfig(**{**cfg, "use_8bit_adam": False, "output_dir": str(tmp_path / "p")}))
    assert type(plain.optimizer.optimizer) is torch.optim.AdamW


def test_real_bitsandbytes_adam8bit():
    bnb = pytest.importorskip("bitsandbytes", reason="bitsandbytes is optional and not installed here")
    optimizer = common.make_optimizer([torch.nn.Parameter(torch.zeros(4096))], 1e-3, use_8bit=True)
    assert isinstance(optimizer, bnb.optim.AdamW8bit)


def test_cli_num_processes_runs_two_local_processes(tiny_anytext, anyword_data, tmp_path, capfd, monkeypatch):
    from wenchuang.cli import main

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    out = tmp_path / "cli"
    code = main(["train", "text", str(anyword_data), str(out), "--model", str(tiny_anytext), "--resolution", "64",
                 "--max-steps", "2", "--batch-size", "1", "--num-processes", "2", "--seed", "3"])  # fmt: skip
    printed = capfd.readouterr().out
    assert code == 0, printed
    assert printed.count("trained 2 steps") == 1  # the main process reports, once
    assert (out / "model_index.json").is_file()
    launched = json.loads((out / "launch-config.json").read_text())
    assert launched["max_steps"] == 2 and launched["batch_size"] == 1
    info = json.loads((out / "training_info.json").read_text())
    assert info["steps"] == 2
