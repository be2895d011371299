"""CLIP's tokenizer for AnyText: where it comes from, and the ``*`` placeholder's token.

The official checkpoint carries no tokenizer: it is CLIP ViT-L/14's (`CLIP_REPO`), found in a
folder beside the weights (`wenchuang download anytext` puts it into ``tokenizer/``), a folder
given by the user, or the Hugging Face cache. Nothing is downloaded here.
"""

from __future__ import annotations

from pathlib import Path

from transformers import CLIPTokenizer

from wenchuang.anytext.weights import CLIP_REPO
from wenchuang.errors import ModelError
from wenchuang.prompts import PLACEHOLDER


def load_clip_tokenizer(folder: str | Path):
    """CLIPTokenizer from a folder with vocab.json + merges.txt (the golden's or a pipeline's tokenizer/)."""
    folder = Path(folder)
    if not (folder / "vocab.json").is_file() or not (folder / "merges.txt").is_file():
        raise ModelError(f"{folder}: no CLIP tokenizer here (vocab.json and merges.txt are needed)")
    return CLIPTokenizer.from_pretrained(str(folder))


def load_tokenizer(tokenizer_dir: str | Path | None = None, config=None, local_files_only: bool = True):
    """The CLIP tokenizer: from `tokenizer_dir`, else ``config.cond_stage_version`` (a folder or a Hub
    id, default `CLIP_REPO`) from the Hugging Face cache. Nothing is downloaded unless
    `local_files_only=False` (`wenchuang download anytext` puts the tokenizer beside the weights)."""
    if tokenizer_dir is not None:
        return load_clip_tokenizer(tokenizer_dir)
    version = getattr(config, "cond_stage_version", None) or CLIP_REPO
    if Path(version).is_dir():
        return load_clip_tokenizer(version)
    try:
        tokenizer = CLIPTokenizer.from_pretrained(version, local_files_only=local_files_only)
        if len(tokenizer) <= len(set(tokenizer.all_special_tokens)):
            # transformers 5 gives a tokenizer of the special tokens alone when it finds no vocab.json
            raise OSError(f"no vocab.json for {version}")
        return tokenizer
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"no CLIP tokenizer: {version!r} is not available offline ({type(exc).__name__}); put CLIP's "
            "tokenizer files (vocab.json, merges.txt) into a tokenizer/ folder beside the AnyText checkpoint "
            "(`wenchuang download anytext` fetches them there), or download them into the Hugging Face cache "
            f"(`huggingface-cli download {version} vocab.json merges.txt tokenizer_config.json "
            "special_tokens_map.json`); `wenchuang convert anytext` also takes --tokenizer DIR"
        ) from None


def placeholder_token_id(tokenizer, placeholder: str = PLACEHOLDER) -> int:
    """Token id of the placeholder string; it must map to exactly one token (as the official asserts)."""
    ids = tokenizer(placeholder, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ModelError(f"placeholder {placeholder!r} maps to {len(ids)} tokens; it must be a single token")
    return int(ids[0])
