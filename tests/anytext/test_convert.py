"""Official checkpoint conversion: key mapping, error reporting, safe loading, configs."""

from __future__ import annotations

import pickle

import pytest
import torch

from wenchuang import checkpoints
from wenchuang.anytext import convert
from wenchuang.anytext.configs import AnyTextConfig
from wenchuang.anytext.convert import convert_text_components
from wenchuang.anytext.loading import convert_anytext_checkpoint
from wenchuang.errors import ModelError


def _all_key_problems(state, config, tokenizer_dir=None):
    from diffusers import DDIMScheduler

    parts = convert.split_checkpoint(state, config)
    problems = [f"unexpected {k}" for k in parts.unexpected]
    models = convert.build_models(config, device="meta")
    for name in ("unet", "controlnet", "vae"):
        problems += checkpoints.key_problems(models[name], getattr(parts, name), f"{name}:")
    problems += convert.check_schedule(parts.schedule, config, DDIMScheduler(**config.scheduler_config()))
    problems += convert_text_components(parts.text, tokenizer_dir=tokenizer_dir)["problems"]
    return parts, problems


def test_released_full_size_key_set_converts_with_no_missing_or_unexpected_key(
    released_keys, make_meta_state
):
    state = make_meta_state(released_keys)
    assert len(state) == 1732
    assert "embedding_manager.proj.weight" in state  # the released Linear-only layout
    parts, problems = _all_key_problems(state, AnyTextConfig.full())
    assert problems == []
    # every key went somewhere: the three diffusers models, the text side or the schedule
    placed = len(parts.unet) + len(parts.controlnet) + len(parts.vae) + len(parts.text) + len(parts.schedule)
    assert placed == len(state)
    # nothing was allocated: the renamed tensors are still meta tensors
    assert all(t.device.type == "meta" for t in parts.unet.values())
    # SD1.5 shapes arrived where diffusers expects them
    assert tuple(parts.unet["conv_in.weight"].shape) == (320, 4, 3, 3)
    assert tuple(parts.controlnet["auxiliary.fuse_block.weight"].shape) == (320, 256 + 64 + 4, 3, 3)
    assert tuple(parts.controlnet["controlnet_mid_block.weight"].shape) == (1280, 1280, 1, 1)
    assert tuple(parts.vae["encoder.mid_block.attentions.0.to_q.weight"].shape) == (512, 512)


def test_upstream_projection_layout_converts_too(released_keys, make_meta_state):
    keys = dict(released_keys)
    dtype, shape = keys.pop("embedding_manager.proj.weight")
    keys.pop("embedding_manager.proj.bias")
    keys["embedding_manager.proj.0.weight"] = [dtype, shape]
    keys["embedding_manager.proj.0.bias"] = [dtype, [shape[0]]]
    keys["embedding_manager.proj.1.weight"] = [dtype, [shape[0]]]
    keys["embedding_manager.proj.1.bias"] = [dtype, [shape[0]]]
    _, problems = _all_key_problems(make_meta_state(keys), AnyTextConfig.full())
    assert problems == []


def test_missing_and_unexpected_keys_are_listed_in_one_error(released_keys, make_meta_state):
    from wenchuang.anytext.pipeline import AnyTextPipeline

    state = make_meta_state(released_keys)
    del state["control_model.zero_convs.3.0.weight"]
    del state["model.diffusion_model.output_blocks.5.1.proj_in.bias"]
    state["control_model.extra_block.weight"] = torch.empty(3, device="meta")
    with pytest.raises(ModelError) as err:
        AnyTextPipeline.from_official_state_dict(state, AnyTextConfig.full(), source="test.ckpt")
    message = str(err.value)
    assert "test.ckpt" in message and "3 key problem(s)" in message
    assert "missing controlnet_down_blocks.3.weight" in message
    assert "missing up_blocks.1.attentions.2.proj_in.bias" in message
    assert "unexpected control_model.extra_block.weight" in message


def test_a_checkpoint_of_another_model_is_rejected_clearly(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(2, 2), "decoder.bias": torch.zeros(2)}, str(path))
    with pytest.raises(ModelError, match="not an AnyText checkpoint this version understands"):
        convert_anytext_checkpoint(path, config=AnyTextConfig.full())


def test_unreadable_and_missing_files_are_model_errors(tmp_path):
    bad = tmp_path / "broken.ckpt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="broken.ckpt: not a PyTorch checkpoint or safetensors file"):
        convert.load_checkpoint(bad)
    with pytest.raises(ModelError, match="checkpoint not found"):
        convert.load_checkpoint(tmp_path / "absent.ckpt")


class _Exploit:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_ckpt_is_loaded_without_executing_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": {"x": _Exploit()}}, fh)
    with pytest.raises(ModelError, match="evil.ckpt: not a PyTorch checkpoint") as info:
        convert.load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()
    assert "weights_only" not in str(info.value)  # never the advice to load it unsafely


def _corrupt_files(folder):
    """Files torch.load(weights_only=True) refuses, each for another reason."""
    import io

    buffer = io.BytesIO()
    torch.save({"w": torch.ones(4)}, buffer)
    files = {
        "text.ckpt": b"not a checkpoint at all",
        "empty.ckpt": b"",
        "truncated.ckpt": buffer.getvalue()[: len(buffer.getvalue()) // 2],
        "code.ckpt": pickle.dumps({"x": _Exploit()}, protocol=2),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def assert_one_line_load_error(message: str, path) -> None:
    assert message.startswith(f"{path}: not a PyTorch checkpoint or safetensors file (")
    assert message.endswith(")") and "\n" not in message and len(message) < 300
    assert "weights_only" not in message and "Re-running" not in message


def test_every_corrupt_torch_file_is_a_one_line_model_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in _corrupt_files(tmp_path):
        for load in (checkpoints.torch_load_weights, convert.load_checkpoint):
            with pytest.raises(ModelError) as info:
                load(path)
            assert_one_line_load_error(str(info.value), path)
    assert not (tmp_path / "PWNED").exists()


def test_ckpt_with_state_dict_wrapper_loads(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"betas": torch.arange(3.0)}, "global_step": 5}, path)
    assert torch.equal(convert.load_checkpoint(path)["betas"], torch.arange(3.0))


def test_schedule_buffers_must_match_the_ddim_schedule():
    from diffusers import DDIMScheduler

    config = AnyTextConfig.full()
    scheduler = DDIMScheduler(**config.scheduler_config())
    good = {name: torch.zeros(1000) for name in convert.SCHEDULE_BUFFERS}
    good["alphas_cumprod"] = scheduler.alphas_cumprod.clone()
    assert convert.check_schedule(good, config, scheduler) == []
    shifted = dict(good, alphas_cumprod=good["alphas_cumprod"] * 0.999)
    assert "alphas_cumprod differs" in convert.check_schedule(shifted, config, scheduler)[0]
    missing = {k: v for k, v in good.items() if k != "logvar"}
    assert convert.check_schedule(missing, config, scheduler) == ["missing logvar"]


def test_tiny_yaml_gives_the_golden_numbers(shared_golden):
    config = AnyTextConfig.from_yaml(shared_golden / "anytext_sd15_tiny.yaml")
    unet = config.unet_config()
    assert unet["block_out_channels"] == (32, 32, 64, 64)
    assert unet["down_block_types"] == ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",)
    assert unet["up_block_types"] == ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3
    assert unet["cross_attention_dim"] == 32 and unet["attention_head_dim"] == 8
    assert config.vae_config()["block_out_channels"] == (32, 32, 64, 64)


def test_golden_checkpoint_maps_every_key(shared_golden):
    from safetensors.torch import load_file

    config = AnyTextConfig.from_yaml(shared_golden / "anytext_sd15_tiny.yaml")
    state = load_file(str(shared_golden / "anytext_tiny.safetensors"))
    _, problems = _all_key_problems(state, config, shared_golden / "tokenizer")
    assert problems == []


def test_bad_yaml_is_a_model_error(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("model: {params: {}}\n")
    with pytest.raises(ModelError, match="not an AnyText model yaml"):
        AnyTextConfig.from_yaml(path)


def test_official_ckpt_file_loads_like_the_safetensors_file(shared_golden, tmp_path):
    from safetensors.torch import load_file

    state = load_file(str(shared_golden / "anytext_tiny.safetensors"))
    ckpt = tmp_path / "anytext_tiny.ckpt"
    torch.save({"state_dict": state, "epoch": 3}, ckpt)
    loaded = convert.load_checkpoint(ckpt)
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_legacy_pickle_format_ckpt_loads_too(tmp_path):
    path = tmp_path / "legacy.ckpt"
    torch.save({"state_dict": {"betas": torch.ones(2)}}, path, _use_new_zipfile_serialization=False)
    assert torch.equal(convert.load_checkpoint(path)["betas"], torch.ones(2))


def test_pipeline_loads_the_official_checkpoint_directly(shared_golden):
    from wenchuang.anytext.pipeline import AnyTextPipeline

    pipe = AnyTextPipeline.from_official_checkpoint(
        shared_golden / "anytext_tiny.safetensors",
        yaml_path=shared_golden / "anytext_sd15_tiny.yaml",
        tokenizer_dir=shared_golden / "tokenizer",
    )
    assert pipe.text_embedding.config.projection == "linear_layernorm"  # the golden's upstream layout
    assert list(pipe.unet.config.block_out_channels) == [32, 32, 64, 64]
    assert pipe.unet.dtype == torch.float32


@pytest.fixture
def empty_hf_cache(monkeypatch):
    """CLIPTokenizer finds nothing in the Hugging Face cache (as offline with an empty cache); folders still load."""
    from pathlib import Path

    from transformers import CLIPTokenizer

    real = CLIPTokenizer.from_pretrained

    def from_folder_only(cls, name, *args, **kwargs):
        if not Path(name).is_dir():
            raise OSError(f"{name} is not in the Hugging Face cache")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(CLIPTokenizer, "from_pretrained", classmethod(from_folder_only))


def _downloaded_folder(shared_golden, root, tokenizer_dir="tokenizer"):
    """What `wenchuang download anytext --to root` leaves: the weights with CLIP's tokenizer beside them."""
    import shutil

    root.mkdir()
    shutil.copy(shared_golden / "anytext_tiny.safetensors", root / "pytorch_model.fp16.safetensors")
    shutil.copytree(shared_golden / "tokenizer", root / tokenizer_dir)
    return root / "pytorch_model.fp16.safetensors"


@pytest.mark.parametrize("tokenizer_dir", ["tokenizer", "clip-vit-large-patch14"])
def test_cli_convert_uses_the_tokenizer_beside_the_checkpoint(
    shared_golden, tmp_path, empty_hf_cache, capsys, tokenizer_dir
):
    from wenchuang.cli import main

    ckpt = _downloaded_folder(shared_golden, tmp_path / "anytext", tokenizer_dir)
    yaml = str(shared_golden / "anytext_sd15_tiny.yaml")
    args = ["convert", "anytext", str(ckpt), str(tmp_path / "out"), "--yaml", yaml]
    assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "model_index.json").is_file()


def test_cli_convert_prefers_an_explicit_tokenizer_and_says_how_to_get_one(
    shared_golden, tmp_path, empty_hf_cache, capsys
):
    from wenchuang.cli import main

    ckpt = _downloaded_folder(shared_golden, tmp_path / "anytext")
    (ckpt.parent / "tokenizer" / "vocab.json").write_text("not json")  # would fail if it were used
    yaml = str(shared_golden / "anytext_sd15_tiny.yaml")
    args = ["convert", "anytext", str(ckpt), str(tmp_path / "out"), "--yaml", yaml]
    assert main([*args, "--tokenizer", str(shared_golden / "tokenizer")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    import shutil

    shutil.rmtree(ckpt.parent / "tokenizer")  # none beside it, none cached: a one-line error
    assert main([*args[:3], str(tmp_path / "out2"), *args[4:]]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the "converting ..." line
    assert error.startswith("wenchuang: error: ") and "no CLIP tokenizer" in error


def test_a_folder_given_as_the_checkpoint_says_so_and_names_the_file_in_it(tmp_path, capsys):
    from wenchuang.cli import main

    folder = tmp_path / "anytext"
    folder.mkdir()
    expected = r"anytext is a folder; a checkpoint file is expected \(.ckpt or .safetensors\)$"
    with pytest.raises(ModelError, match=expected):
        convert.load_checkpoint(folder)
    (folder / "pytorch_model.fp16.safetensors").write_bytes(b"x")
    assert main(["convert", "anytext", str(folder), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        f"wenchuang: error: {folder} is a folder; a checkpoint file is expected (.ckpt or .safetensors): "
        f"give {folder / 'pytorch_model.fp16.safetensors'}"
    )
    (folder / "model_index.json").write_text("{}")
    with pytest.raises(ModelError, match="already a converted pipeline: pass it as --model"):
        convert.load_checkpoint(folder)
