"""wenchuang.checkpoints: reading weight files and the one missing/unexpected/shape check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from wenchuang import checkpoints
from wenchuang.errors import ModelError


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))


def test_compare_keys_names_missing_unexpected_and_misshapen_keys():
    expected = _model().state_dict()
    state = dict(expected)
    del state["0.bias"]
    state["0.weight"] = torch.zeros(5, 3)
    state["2.extra"] = torch.zeros(1)
    check = checkpoints.compare_keys(expected, state)
    assert not check.ok
    assert check.missing == ["0.bias"]
    assert check.unexpected == ["2.extra"]
    assert check.wrong_shape == [("0.weight", (5, 3), (2, 3))]
    assert check.problems("net.") == [
        "missing net.0.bias",
        "unexpected net.2.extra",
        "net.0.weight: shape (5, 3), expected (2, 3)",
    ]
    assert check.summary() == (
        "1 shape mismatches (e.g. 0.weight: shape (5, 3), expected (2, 3)); "
        "1 missing (e.g. 0.bias); 1 unexpected (e.g. 2.extra)"
    )
    assert checkpoints.compare_keys(expected, dict(expected)).ok


def test_summary_shows_the_first_keys_and_says_there_are_more():
    check = checkpoints.KeyCheck(missing=[f"k{i}" for i in range(5)])
    assert check.summary(examples=2) == "5 missing (e.g. k0, k1, ...)"


def test_key_problems_work_on_the_meta_device():
    with torch.device("meta"):
        model = _model()
    state = {k: torch.empty(v.shape, device="meta") for k, v in model.state_dict().items()}
    assert checkpoints.key_problems(model, state) == []
    state.pop("1.running_var")
    assert checkpoints.key_problems(model, state, "p.") == ["missing p.1.running_var"]


def test_raise_key_problems_lists_them_in_one_error():
    checkpoints.raise_key_problems([], "x.ckpt")  # nothing to report: no error
    problems = [f"missing k{i}" for i in range(45)]
    with pytest.raises(ModelError) as info:
        checkpoints.raise_key_problems(problems, "x.ckpt", what="a tiny model")
    message = str(info.value)
    assert message.startswith("x.ckpt is not a tiny model: 45 key problem(s): missing k0; missing k1")
    assert message.endswith("; ... and 5 more") and "missing k39" in message and "missing k40" not in message


def test_load_checked_loads_with_the_model_dtype_or_loads_nothing():
    source, target = _model(), _model()
    state = {k: v.double() if v.is_floating_point() else v for k, v in source.state_dict().items()}
    checkpoints.load_checked(target, state, "tiny weights")
    assert target[0].weight.dtype == torch.float32
    assert torch.equal(target[0].weight, source[0].weight)
    before = target[0].weight.detach().clone()
    broken = dict(state)
    broken["0.weight"] = torch.ones(2, 3, dtype=torch.float64)
    broken["extra"] = torch.zeros(1)
    with pytest.raises(ModelError, match=r"^tiny weights do not match: 1 unexpected \(e.g. extra\)$"):
        checkpoints.load_checked(target, broken, "tiny weights")
    assert torch.equal(target[0].weight, before)


def test_read_state_dict_reads_both_formats_and_unwraps_state_dict(tmp_path):
    tensors = {"a": torch.arange(3.0)}
    save_file(tensors, tmp_path / "w.safetensors")
    torch.save({"state_dict": tensors, "epoch": 3}, tmp_path / "w.ckpt")
    torch.save([1, 2], tmp_path / "list.pt")
    for name in ("w.safetensors", "w.ckpt"):
        assert torch.equal(checkpoints.read_state_dict(tmp_path / name)["a"], tensors["a"])
    with pytest.raises(ModelError, match="list.pt does not hold a state dict"):
        checkpoints.read_state_dict(tmp_path / "list.pt")
    (tmp_path / "bad.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="cannot read checkpoint .*bad.safetensors"):
        checkpoints.read_state_dict(tmp_path / "bad.safetensors")


def test_the_module_is_a_leaf():
    """FID, training and the AnyText conversion share it: it must import nothing else of the project."""
    tree = ast.parse(Path(checkpoints.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert {name for name in imported if name.startswith("wenchuang")} == {"wenchuang.errors"}
