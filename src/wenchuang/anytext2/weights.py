"""Finding and downloading AnyText2 weights (no model code here: the engine status stays fast).

A model is given as (`--model PATH_OR_REPO`, else `$WENCHUANG_ANYTEXT2_MODEL`, else the default
download folder `$WENCHUANG_HOME/anytext2` or `~/.cache/wenchuang/anytext2`):

- a folder written by `wenchuang convert anytext2` (has `model_index.json`);
- the official checkpoint (`anytext_v2.0.ckpt`, or an official-format `.safetensors`), converted on
  the fly; a folder holding it (the ModelScope snapshot `iic/cv_anytext2`) with its CLIP folder
  (`clip-vit-large-patch14/` or `tokenizer/`) and optionally a model yaml;
- a Hugging Face repository id already in the local cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from wenchuang.anytext.weights import ModelLocation, _looks_local, checkpoint_in, tokenizer_beside
from wenchuang.anytext2.configs import AnyText2Config
from wenchuang.errors import ModelError
from wenchuang.paths import weights_home

MODELSCOPE_REPO = "iic/cv_anytext2"
CHECKPOINT_NAMES = ("anytext_v2.0.ckpt", "anytext_v2.0.safetensors")
ENV_VAR = "WENCHUANG_ANYTEXT2_MODEL"
# parts of the ModelScope release this project does not use (the zh->en translator, demo assets)
MODELSCOPE_SKIP = ["nlp_csanmt_translation_zh2en/*", "example_images/*"]


def default_model_dir() -> Path:
    return weights_home("anytext2")


def how_to_get_weights(where: Path | None = None) -> str:
    """How to get the weights, naming commands that work from every command (serve has no --model:
    it reads the default folder or $WENCHUANG_ANYTEXT2_MODEL)."""
    default = default_model_dir()
    where = Path(where) if where else default
    to = "" if where == default else f" --to {where}"
    return (
        f"to get the AnyText2 weights run `wenchuang download anytext2{to}` (ModelScope {MODELSCOPE_REPO}: "
        f"anytext_v2.0.ckpt, about 6 GB, and CLIP's folder; needs `pip install modelscope`), or on an offline "
        f"machine copy anytext_v2.0.ckpt and clip-vit-large-patch14/ into {where}; "
        + ("every command looks there; weights elsewhere: " if where == default else "then use it with ")
        + f"`--model {'PATH' if where == default else where}` for generate/edit, or "
        f"`{ENV_VAR}={'PATH' if where == default else where} wenchuang serve` (the variable works for every command)"
    )


def _from_folder(folder: Path) -> ModelLocation | None:
    if (folder / "model_index.json").is_file():
        return ModelLocation("pipeline", folder)
    ckpt = checkpoint_in(folder, CHECKPOINT_NAMES, ("anytext*2*.ckpt", "anytext*2*.safetensors"))
    if ckpt is None:
        return None
    yamls = [p for p in sorted(folder.glob("*.yaml")) if AnyText2Config.is_anytext2_yaml(p)]
    return ModelLocation("checkpoint", ckpt, yamls[0] if yamls else None, tokenizer_beside(folder))


def locate_model(model: str | Path | None = None) -> ModelLocation:
    """Where the AnyText2 weights are; `ModelError` saying how to get them when they are nowhere."""
    spec = model or os.environ.get(ENV_VAR) or default_model_dir()
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix not in (".ckpt", ".safetensors"):
            raise ModelError(f"{path} is not an AnyText2 checkpoint (.ckpt or .safetensors) or model folder")
        found = _from_folder(path.parent)
        yaml = found.yaml if found and found.kind == "checkpoint" else None
        return ModelLocation("checkpoint", path, yaml, tokenizer_beside(path.parent))
    if path.is_dir():
        found = _from_folder(path)
        if found is None:
            raise ModelError(f"no AnyText2 weights in {path}: {how_to_get_weights(path)}")
        return found
    text = str(spec)
    if not model and not os.environ.get(ENV_VAR):
        raise ModelError(f"AnyText2 weights not found at {path}: {how_to_get_weights()}")
    if not _looks_local(text):
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(text, local_files_only=True))
        except Exception:
            raise ModelError(
                f"the Hugging Face repository {text} is not in the local cache; run `wenchuang download anytext2 "
                f"--source huggingface --repo {text}` first (or {how_to_get_weights()})"
            ) from None
        found = _from_folder(folder)
        if found is None:
            raise ModelError(f"the cached repository {text} holds no AnyText2 checkpoint")
        return found
    raise ModelError(
        f"{path} does not exist; run `wenchuang download anytext2 --to {path}` to download the AnyText2 weights "
        "into it, or pass --model a folder or checkpoint that exists"
    )


def download_weights(
    to: str | Path | None = None,
    revision: str | None = None,
    repo: str | None = None,
    source: str = "modelscope",
) -> Path:
    """Download the official release; returns the folder.

    ModelScope (`iic/cv_anytext2`, the official release) goes through the `modelscope` client, which
    shows progress, resumes interrupted files and verifies each file's checksum; its zh->en translator
    is skipped. `source="huggingface"` fetches `repo` (required: there is no official Hub copy) with
    `huggingface_hub` (also resumable, with progress).
    """
    target = Path(to).expanduser() if to else default_model_dir()
    if source == "modelscope":
        try:
            from modelscope import snapshot_download as ms_download
        except ImportError:
            raise ModelError(
                "downloading AnyText2 from ModelScope needs the modelscope client: pip install modelscope "
                f"(or fetch anytext_v2.0.ckpt and clip-vit-large-patch14/ of {MODELSCOPE_REPO} by hand into "
                f"{target}, or use --source huggingface --repo ID for a Hub copy)"
            ) from None
        import inspect

        kwargs = {"revision": revision, "local_dir": str(target)}
        if "ignore_file_pattern" in inspect.signature(ms_download).parameters:
            kwargs["ignore_file_pattern"] = MODELSCOPE_SKIP
        try:
            folder = Path(ms_download(repo or MODELSCOPE_REPO, **kwargs))
        except Exception as exc:
            raise ModelError(f"ModelScope download failed ({type(exc).__name__}: {exc}); {how_to_get_weights(target)}") from None
    elif source == "huggingface":
        if not repo:
            raise ModelError("--source huggingface needs --repo ID (AnyText2 has no official Hugging Face copy)")
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

        try:
            folder = Path(snapshot_download(repo, revision=revision, local_dir=str(target)))
        except (OfflineModeIsEnabled, LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
            raise ModelError(f"cannot download {repo} ({type(exc).__name__}); {how_to_get_weights(target)}") from None
    else:
        raise ModelError(f"source must be modelscope or huggingface, got {source!r}")
    if _from_folder(folder) is None:
        raise ModelError(f"the download in {folder} holds no AnyText2 checkpoint ({', '.join(CHECKPOINT_NAMES)})")
    return folder
