"""`wenchuang merge` into an AnyText2 pipeline: a tuned SD1.5 base replaces UNet/VAE/CLIP, AnyText2's own parts stay."""

from __future__ import annotations

import json

import torch

from wenchuang.cli import main


def _random_anytext2(seed: int, tokenizer_dir):
    from wenchuang.anytext2.random_models import build_random_pipeline, tiny_config

    return build_random_pipeline(tiny_config(), tokenizer_dir, seed=seed)


def test_merge_a_tuned_sd15_folder_into_anytext2(tmp_path, capsys):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    from wenchuang.anytext.random_models import write_byte_tokenizer
    from wenchuang.anytext2.pipeline import AnyText2Pipeline

    tokenizer_dir = write_byte_tokenizer(tmp_path / "tokenizer")
    anytext2 = _random_anytext2(0, tokenizer_dir)
    anytext2.save_pretrained(tmp_path / "anytext2")
    other = _random_anytext2(1, tokenizer_dir)
    torch.manual_seed(1)
    tuned_unet = UNet2DConditionModel.from_config(anytext2.unet.config)  # SD1.5 layout: no AttnX
    assert not any("attn1x" in k for k in tuned_unet.state_dict())
    StableDiffusionPipeline(
        vae=other.vae, text_encoder=other.text_encoder, tokenizer=other.tokenizer, unet=tuned_unet,
        scheduler=other.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(tmp_path / "tuned")  # fmt: skip

    out = tmp_path / "merged"
    assert main(["merge", str(tmp_path / "anytext2"), str(tmp_path / "tuned"), str(out)]) == 0, capsys.readouterr().err
    merged = AnyText2Pipeline.from_pretrained(out)
    ours, base, theirs = anytext2.unet.state_dict(), tuned_unet.state_dict(), merged.unet.state_dict()
    assert theirs.keys() == ours.keys()
    attnx = [k for k in theirs if ".attn1x." in k or ".attn2x." in k]
    assert attnx and all(torch.equal(theirs[k], ours[k]) for k in attnx)  # AnyText2's own layers stay
    assert all(torch.equal(theirs[k], base[k]) for k in base)  # every SD1.5 weight is the tuned one
    for name, source in [("vae", other), ("text_encoder", other), ("controlnet", anytext2),
                         ("text_embedding", anytext2), ("font_recognizer", anytext2)]:
        a, b = getattr(merged, name).state_dict(), getattr(source, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in b), name
    info = json.loads((out / "merge_info.json").read_text())
    assert info["replaced"] == ["unet", "vae", "text_encoder"] and "font_recognizer" in info["kept_from_anytext"]
