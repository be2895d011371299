"""`download_weights` and `locate_model`: what is fetched, where it lands, and what is found afterwards.

huggingface_hub's `snapshot_download` is replaced by a stand-in that writes the files it was asked
for, so the tests see exactly which repository, patterns and folders a real download would use.
"""

from __future__ import annotations

import fnmatch

import pytest

from wenchuang.anytext import weights
from wenchuang.errors import ModelError

MIRROR = ["pytorch_model.fp16.safetensors", "pytorch_model.safetensors", "SourceHanSansSC-Medium.otf"]
CLIP = ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "model.safetensors"]


@pytest.fixture
def hub(monkeypatch):
    """Records every snapshot_download call and writes the files of the fake repositories it matches."""
    repos = {weights.DEFAULT_REPO: MIRROR, weights.CLIP_REPO: CLIP, "someone/anytext-tuned": ["anytext_v1.1.ckpt"]}
    calls = []

    def fake_snapshot_download(repo_id, revision=None, local_dir=None, allow_patterns=None, **kwargs):
        calls.append({"repo": repo_id, "revision": revision, "dir": local_dir, "patterns": allow_patterns})
        for name in repos[repo_id]:
            if allow_patterns is None or any(fnmatch.fnmatch(name, p) for p in allow_patterns):
                path = weights.Path(local_dir) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"x")
        return local_dir

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    return calls


def test_default_download_fetches_one_copy_and_the_clip_tokenizer(tmp_path, hub):
    folder = weights.download_weights(tmp_path / "w")
    assert folder == tmp_path / "w"
    assert [c["repo"] for c in hub] == [weights.DEFAULT_REPO, weights.CLIP_REPO]
    assert sorted(p.name for p in folder.iterdir()) == ["pytorch_model.fp16.safetensors", "tokenizer"]
    # only the tokenizer files of CLIP, not its 1.7 GB of weights
    assert sorted(p.name for p in (folder / "tokenizer").iterdir()) == sorted(CLIP[:4])
    where = weights.locate_model(folder)
    assert where.kind == "checkpoint" and where.path.name == "pytorch_model.fp16.safetensors"
    assert where.tokenizer == folder / "tokenizer"


def test_fp32_download_and_a_second_run_keeps_the_tokenizer(tmp_path, hub):
    folder = weights.download_weights(tmp_path / "w", precision="fp32", revision="main")
    assert hub[0]["patterns"][0] == "pytorch_model.safetensors" and hub[0]["revision"] == "main"
    assert weights.locate_model(folder).path.name == "pytorch_model.safetensors"
    hub.clear()
    weights.download_weights(tmp_path / "w", precision="fp32")
    assert [c["repo"] for c in hub] == [weights.DEFAULT_REPO]  # the tokenizer is there already


def test_another_repository_is_fetched_whole(tmp_path, hub):
    folder = weights.download_weights(tmp_path / "w", repo="someone/anytext-tuned")
    assert hub[0] == {"repo": "someone/anytext-tuned", "revision": None, "dir": str(folder), "patterns": None}
    assert weights.locate_model(folder).path.name == "anytext_v1.1.ckpt"


def test_modelscope_clip_folder_counts_as_the_tokenizer(tmp_path):
    (tmp_path / "clip-vit-large-patch14").mkdir()
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / "clip-vit-large-patch14" / name).write_text("{}")
    (tmp_path / "anytext_v1.1.ckpt").write_bytes(b"x")
    assert weights.locate_model(tmp_path).tokenizer == tmp_path / "clip-vit-large-patch14"
    assert weights.locate_model(tmp_path / "anytext_v1.1.ckpt").tokenizer == tmp_path / "clip-vit-large-patch14"


def test_bad_precision_and_a_repository_without_weights(tmp_path, hub, monkeypatch):
    with pytest.raises(ModelError, match="precision must be one of fp16, fp32"):
        weights.download_weights(tmp_path / "w", precision="int8")
    monkeypatch.setitem(weights.MIRROR_FILES, "fp16", "missing.safetensors")
    with pytest.raises(ModelError, match="holds no AnyText checkpoint"):
        weights.download_weights(tmp_path / "w")


def test_cli_passes_precision(tmp_path, hub, capsys):
    from wenchuang.cli import main

    assert main(["download", "anytext", "--to", str(tmp_path / "w"), "--precision", "fp32"]) == 0
    assert hub[0]["patterns"][0] == "pytorch_model.safetensors"
    assert f"--model {tmp_path / 'w'}" in capsys.readouterr().out


def test_offline_tokenizer_download_says_what_to_fetch(tmp_path, hub, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    real = huggingface_hub.snapshot_download

    def no_clip(repo_id, **kwargs):
        if repo_id == weights.CLIP_REPO:
            raise LocalEntryNotFoundError("offline")
        return real(repo_id, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_clip)
    with pytest.raises(ModelError) as info:
        weights.download_weights(tmp_path / "w")
    message = str(info.value)
    assert "CLIP's tokenizer" in message and str(tmp_path / "w" / "tokenizer") in message
    assert f"--model {tmp_path / 'w'}" in message and "\n" not in message


@pytest.mark.parametrize(
    ("model", "folder"),
    [
        ("models/anytext", "models/anytext"),  # models/ exists here: a path, not a repository id
        ("./anytext", "anytext"),
        ("models/anytext/anytext_v1.1.ckpt", "models/anytext"),
        ("anytext", "anytext"),
    ],
)
def test_a_missing_local_path_says_it_does_not_exist_and_how_to_download_there(tmp_path, monkeypatch, model, folder):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(ModelError) as info:
        weights.locate_model(model)
    message = str(info.value)
    assert "does not exist" in message and f"wenchuang download anytext --to {folder}`" in message
    assert "--repo" not in message


def test_an_uncached_repository_id_still_says_download_repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no folder "someone" here: "someone/anytext-tuned" is a repository id
    with pytest.raises(ModelError, match="wenchuang download anytext --repo someone/anytext-tuned"):
        weights.locate_model("someone/anytext-tuned")


def test_download_help_states_the_default_folder_rule_the_code_follows(tmp_path, hub, monkeypatch, capsys):
    from wenchuang.cli import main

    with pytest.raises(SystemExit):
        main(["download", "anytext", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "$WENCHUANG_HOME/anytext when WENCHUANG_HOME is set, else ~/.cache/wenchuang/anytext" in help_text
    monkeypatch.setenv("WENCHUANG_HOME", str(tmp_path / "home"))
    assert main(["download", "anytext"]) == 0
    assert hub[0]["dir"] == str(tmp_path / "home" / "anytext")
