"""training.common.run_steps: the optimisation loop the style and text trainers share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from wenchuang.errors import WenchuangError
from wenchuang.training.common import run_steps


@dataclass
class Config:
    max_steps: int = 5
    gradient_accumulation: int = 2
    max_grad_norm: float = 0.0
    checkpoint_steps: int = 2
    progress: bool = False


class Accelerator:
    def __init__(self):
        self.clipped: list[float] = []

    def backward(self, loss):
        loss.backward()

    def clip_grad_norm_(self, params, norm):
        self.clipped.append(norm)
        torch.nn.utils.clip_grad_norm_(params, norm)


class FakeTrainer:
    """A one-weight regression: micro step m pulls the weight towards m (a loss that depends on m)."""

    def __init__(self, config: Config, step: int = 0, weight: float = 0.0, nan_at: int | None = None):
        self.config = config
        self.step = step
        self.losses: list[float] = []
        self.weight = torch.nn.Parameter(torch.tensor([weight]))
        self.accelerator = Accelerator()
        self.optimizer = torch.optim.SGD([self.weight], lr=0.1)
        self.micro_steps: list[int] = []
        self.events: list[tuple] = []
        self.nan_at = nan_at

    def step_loss(self, micro_step: int) -> torch.Tensor:
        self.micro_steps.append(micro_step)
        if micro_step == self.nan_at:
            return self.weight.sum() * float("nan")
        return ((self.weight - micro_step) ** 2).sum()

    def save_checkpoint(self) -> Path:
        self.events.append(("checkpoint", self.step))
        return Path(f"checkpoint-{self.step}")


class EMA:
    def __init__(self):
        self.calls = 0

    def step(self, params):
        assert isinstance(params, list) and params
        self.calls += 1


def test_steps_losses_checkpoints_and_hooks_in_order():
    trainer = FakeTrainer(Config())
    seen: list[tuple] = []
    ema = EMA()
    run_steps(
        trainer, [trainer.weight], "test",
        callback=lambda step, loss: seen.append(("callback", step, loss)),
        ema=ema,
        after_step=lambda: seen.append(("after", trainer.step)),
    )  # fmt: skip
    assert trainer.step == 5
    assert trainer.micro_steps == list(range(10))  # step * accumulation + a
    assert len(trainer.losses) == 5 and all(loss > 0 for loss in trainer.losses)
    # checkpoints every 2 steps, never at the last one (the trainer writes its output then)
    assert trainer.events == [("checkpoint", 2), ("checkpoint", 4)]
    assert seen[:2] == [("after", 1), ("callback", 1, trainer.losses[0])]
    assert [s for s in seen if s[0] == "callback"] == [("callback", i + 1, trainer.losses[i]) for i in range(5)]
    assert ema.calls == 5
    assert trainer.accelerator.clipped == []  # max_grad_norm 0: no clipping


def test_the_step_loss_is_the_mean_of_its_micro_steps():
    trainer = FakeTrainer(Config(max_steps=1, gradient_accumulation=2, max_grad_norm=1.0, checkpoint_steps=0))
    run_steps(trainer, [trainer.weight], "test")
    # weight 0: micro losses 0 and 1, each divided by the accumulation
    assert trainer.losses == [pytest.approx(0.5)]
    assert trainer.accelerator.clipped == [1.0]
    # the summed gradient 2 * (0 - 0) / 2 + 2 * (0 - 1) / 2 = -1, one SGD step of 0.1
    assert trainer.weight.item() == pytest.approx(0.1)


def test_a_resumed_run_ends_where_an_uninterrupted_one_does():
    straight = FakeTrainer(Config(max_steps=4, checkpoint_steps=0))
    run_steps(straight, [straight.weight], "test")

    first = FakeTrainer(Config(max_steps=2, checkpoint_steps=0))
    run_steps(first, [first.weight], "test")
    second = FakeTrainer(Config(max_steps=4, checkpoint_steps=0), step=2, weight=first.weight.item())
    run_steps(second, [second.weight], "test")
    assert second.micro_steps == [4, 5, 6, 7]
    assert second.weight.item() == pytest.approx(straight.weight.item(), abs=1e-6)
    assert first.losses + second.losses == pytest.approx(straight.losses)


def test_a_loss_that_is_not_finite_stops_training_with_its_step():
    trainer = FakeTrainer(Config(max_steps=5), nan_at=5)  # micro step 5 belongs to step 3
    calls: list[int] = []
    with pytest.raises(WenchuangError, match="the loss became nan at step 3; lower the learning rate"):
        run_steps(trainer, [trainer.weight], "test", callback=lambda step, loss: calls.append(step))
    assert calls == [1, 2] and len(trainer.losses) == 2
