"""`wenchuang convert anytext2` and `wenchuang download anytext2`."""

from __future__ import annotations

import builtins
import json

import pytest

from wenchuang.cli import main


def test_convert_anytext2_fp16_folder(golden2, tmp_path, capsys):
    out = tmp_path / "pipe"
    code = main(["convert", "anytext2", str(golden2 / "anytext2_tiny.safetensors"), str(out), "--fp16",
                 "--yaml", str(golden2 / "anytext2_sd15_tiny.yaml"), "--tokenizer", str(golden2 / "tokenizer")])
    assert code == 0 and "float16" in capsys.readouterr().out
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "AnyText2Pipeline"
    assert index["unet"][1] == "AnyText2UNetModel" and index["font_recognizer"][1] == "AnyTextRecognizer"
    config = json.loads((out / "unet" / "config.json").read_text())
    assert config["attnx_mid"] is True and config["attnx_up_blocks"] == [1, 2]


def test_download_anytext2_without_modelscope_is_a_clear_error(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_modelscope(name, *args, **kwargs):
        if name == "modelscope" or name.startswith("modelscope."):
            raise ImportError("no modelscope")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_modelscope)
    code = main(["download", "anytext2", "--to", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code != 0 and "pip install modelscope" in err


def test_download_anytext2_huggingface_needs_a_repo(tmp_path):
    from wenchuang.anytext2.weights import download_weights
    from wenchuang.errors import ModelError

    with pytest.raises(ModelError, match="--repo"):
        download_weights(tmp_path, source="huggingface")
