"""Where AnyText's weights are, and how to get them (finding and downloading; nothing is loaded).

Light on purpose: the engine registry asks `locate_model` whether AnyText is ready without
importing the model code (`wenchuang.anytext.loading` builds the pipeline).

A model can be given as (`--model PATH_OR_REPO`, else `$WENCHUANG_ANYTEXT_MODEL`, else the default
download folder `~/.cache/wenchuang/anytext`):

- a folder written by `wenchuang convert anytext` (has `model_index.json`);
- an official checkpoint file (`anytext_v1.1.ckpt` or a `.safetensors`), converted on the fly;
- a folder holding such a checkpoint (e.g. a downloaded snapshot), with an optional model yaml and
  an optional `tokenizer/` folder;
- a Hugging Face repository id already in the local cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wenchuang.errors import ModelError
from wenchuang.paths import weights_home

DEFAULT_REPO = "Sanster/AnyText"  # Hugging Face mirror of the official release (override with --repo)
MODELSCOPE_REPO = "iic/cv_anytext_text_generation_editing"
# official release names, then the Hugging Face mirror's (fp16 and fp32 copies of the same weights)
CHECKPOINT_NAMES = (
    "anytext_v1.1.ckpt",
    "anytext_v1.1.safetensors",
    "pytorch_model.fp16.safetensors",
    "pytorch_model.safetensors",
)
MIRROR_FILES = {"fp16": "pytorch_model.fp16.safetensors", "fp32": "pytorch_model.safetensors"}
CLIP_REPO = "openai/clip-vit-large-patch14"  # the text encoder (and tokenizer) AnyText is built on
TOKENIZER_FILES = ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]
# where a tokenizer may sit beside a checkpoint: ours, and the ModelScope release's CLIP folder
TOKENIZER_DIRS = ("tokenizer", "clip-vit-large-patch14")
ENV_VAR = "WENCHUANG_ANYTEXT_MODEL"


def default_model_dir() -> Path:
    return weights_home("anytext")


def how_to_get_weights(where: Path | None = None) -> str:
    """How to get the weights, naming commands that work from every command (serve has no --model:
    it reads the default folder or $WENCHUANG_ANYTEXT_MODEL)."""
    default = default_model_dir()
    where = Path(where) if where else default
    if where == default:
        get = f"run `wenchuang download anytext` (it puts them into {where}, where every command looks"
        use = "; weights elsewhere: `--model PATH` for generate/edit, or "
    else:
        get = f"run `wenchuang download anytext --to {where}` (then use that folder"
        use = f"; with `--model {where}` for generate/edit, or "
    return (
        f"to get the AnyText v1.1 weights {get}: Hugging Face {DEFAULT_REPO}, about 2.9 GB in fp16, or "
        f"--source modelscope, anytext_v1.1.ckpt, about 5.7 GB); on an offline machine copy anytext_v1.1.ckpt "
        f"into {where} and CLIP's tokenizer files (vocab.json, merges.txt of {CLIP_REPO}) into "
        f"{where / 'tokenizer'}; it is converted when loaded{use}"
        f"`{ENV_VAR}={'PATH' if where == default else where} wenchuang serve` (the variable works for every command)"
    )


@dataclass
class ModelLocation:
    kind: str  # "pipeline" (converted folder) or "checkpoint" (official file)
    path: Path
    yaml: Path | None = None
    tokenizer: Path | None = None


def checkpoint_in(folder: Path, names=CHECKPOINT_NAMES, patterns=("*.ckpt", "anytext*.safetensors")) -> Path | None:
    """The official checkpoint in `folder`: the first of `names` present, else the first file matching
    `patterns` (in that order)."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    found = [path for pattern in patterns for path in sorted(folder.glob(pattern))]
    return found[0] if found else None


def _from_folder(folder: Path) -> ModelLocation | None:
    if (folder / "model_index.json").is_file():
        return ModelLocation("pipeline", folder)
    if (folder / "pipeline" / "model_index.json").is_file():  # `wenchuang download anytext --dtype ...`
        return ModelLocation("pipeline", folder / "pipeline")
    ckpt = checkpoint_in(folder)
    if ckpt is None:
        return None
    yamls = sorted(folder.glob("*.yaml"))
    return ModelLocation("checkpoint", ckpt, yamls[0] if yamls else None, tokenizer_beside(folder))


def tokenizer_beside(folder: Path) -> Path | None:
    """The CLIP tokenizer folder inside `folder` (`tokenizer/` or `clip-vit-large-patch14/`), if any."""
    for name in TOKENIZER_DIRS:
        if (folder / name / "vocab.json").is_file() and (folder / name / "merges.txt").is_file():
            return folder / name
    return None


def locate_model(model: str | Path | None = None) -> ModelLocation:
    """Where the weights are; `ModelError` saying how to get them when they are nowhere."""
    spec = model or os.environ.get(ENV_VAR) or default_model_dir()
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix not in (".ckpt", ".safetensors", ".pth"):
            raise ModelError(f"{path} is not an AnyText checkpoint (.ckpt or .safetensors) or model folder")
        yamls = sorted(path.parent.glob("*.yaml"))
        return ModelLocation("checkpoint", path, yamls[0] if yamls else None, tokenizer_beside(path.parent))
    if path.is_dir():
        found = _from_folder(path)
        if found is None:
            raise ModelError(f"no AnyText weights in {path}: {how_to_get_weights(path)}")
        return found
    text = str(spec)
    if not model and not os.environ.get(ENV_VAR):  # the default folder: nothing downloaded yet
        raise ModelError(f"AnyText weights not found at {path}: {how_to_get_weights()}")
    if not _looks_local(text):
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(text, local_files_only=True))
        except Exception:
            raise ModelError(
                f"no folder {text} exists here and no Hugging Face repository {text} is in the local cache: "
                f"to download the AnyText weights into that folder run `wenchuang download anytext --to {text}`; "
                f"for the Hub repository of that name, `wenchuang download anytext --repo {text}`"
            ) from None
        found = _from_folder(folder)
        if found is None:
            raise ModelError(f"the cached repository {text} holds no AnyText checkpoint")
        return found
    folder = path.parent if path.suffix in (".ckpt", ".safetensors", ".pth") else path
    raise ModelError(
        f"{path} does not exist; run `wenchuang download anytext --to {folder}` to download the AnyText "
        f"weights into it, or pass --model a folder or checkpoint that exists"
    )


def _looks_local(text: str) -> bool:
    """Whether a --model value is a local path rather than a Hugging Face repository id.

    A repository id is exactly ``owner/name``; anything else is a path, and so is ``a/b`` when it
    starts with ``.``, ``/`` or ``~``, or when its first part ``a`` is a folder here (``models/anytext``
    while ``models/`` exists).
    """
    if text.startswith((".", "/", "~")) or os.sep in text.replace("/", "") or text.count("/") != 1:
        return True
    return Path(text.split("/")[0]).is_dir()


def download_weights(
    to: str | Path | None = None,
    revision: str | None = None,
    repo: str | None = None,
    source: str = "huggingface",
    precision: str = "fp16",
) -> Path:
    """Download the official release (resumable, cached, with a progress bar); returns the folder.

    From the Hugging Face mirror only one copy of the weights is fetched: `precision` "fp16" (half
    the download; the pipeline converts it to the dtype it runs in) or "fp32". Another `repo` is
    fetched whole. The CLIP tokenizer the text encoder needs is put into `tokenizer/` beside the
    weights unless the download brought one.
    """
    if precision not in MIRROR_FILES:
        raise ModelError(f"precision must be one of {', '.join(MIRROR_FILES)}, got {precision!r}")
    target = Path(to).expanduser() if to else default_model_dir()
    if source == "modelscope":
        try:
            from modelscope import snapshot_download as ms_download
        except ImportError:
            raise ModelError("ModelScope is not installed (pip install modelscope), use --source huggingface") from None
        try:
            folder = Path(ms_download(repo or MODELSCOPE_REPO, revision=revision, local_dir=str(target)))
        except Exception as exc:
            raise ModelError(f"ModelScope download failed ({type(exc).__name__}: {exc}); {how_to_get_weights(target)}") from None
    else:
        repo = repo or DEFAULT_REPO
        patterns = [MIRROR_FILES[precision], "*.yaml"] if repo == DEFAULT_REPO else None
        folder = Path(_hf_download(repo, target, revision=revision, allow_patterns=patterns))
    if checkpoint_in(folder) is None and not (folder / "model_index.json").is_file():
        raise ModelError(f"the download in {folder} holds no AnyText checkpoint ({', '.join(CHECKPOINT_NAMES)})")
    if not (folder / "model_index.json").is_file() and tokenizer_beside(folder) is None:
        _hf_download(CLIP_REPO, folder / "tokenizer", allow_patterns=TOKENIZER_FILES)
    return folder


def _hf_download(repo: str, target: Path, revision: str | None = None, allow_patterns=None) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return snapshot_download(repo, revision=revision, local_dir=str(target), allow_patterns=allow_patterns)
    except (OfflineModeIsEnabled, LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        if repo == CLIP_REPO:  # the weights are there, only the tokenizer is missing
            raise ModelError(
                f"cannot download CLIP's tokenizer ({type(exc).__name__}); on a connected machine fetch "
                f"vocab.json and merges.txt of Hugging Face {CLIP_REPO} into {target}, then pass "
                f"--model {target.parent} (generate/edit; serve: {ENV_VAR}={target.parent})"
            ) from None
        files = ", ".join(p for p in allow_patterns or [] if "*" not in p) or "the checkpoint"
        raise ModelError(
            f"cannot download {repo} ({type(exc).__name__}); on a connected machine fetch {files} from "
            f"Hugging Face {repo} (or anytext_v1.1.ckpt from ModelScope {MODELSCOPE_REPO}) into {target}, "
            f"and vocab.json + merges.txt of {CLIP_REPO} into {target / 'tokenizer'}; then pass "
            f"--model {target} (generate/edit; serve: {ENV_VAR}={target}){_modelscope_hint()}"
        ) from None


def _modelscope_hint() -> str:
    import importlib.util

    if importlib.util.find_spec("modelscope") is not None:
        return "; ModelScope is installed: try --source modelscope"
    return ""
