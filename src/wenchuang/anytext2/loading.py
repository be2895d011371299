"""Converting and loading AnyText2 pipelines (`wenchuang.anytext2.weights` finds the files)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from wenchuang.anytext.convert import load_checkpoint
from wenchuang.anytext2.configs import AnyText2Config
from wenchuang.anytext2.convert import convert_components
from wenchuang.anytext2.pipeline import AnyText2Pipeline
from wenchuang.anytext2.weights import locate_model
from wenchuang.errors import ModelError


def convert_anytext2_checkpoint(
    path_or_state_dict: str | Path | Mapping[str, torch.Tensor],
    out_dir: str | Path | None = None,
    *,
    config: AnyText2Config | None = None,
    yaml_path: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
    torch_dtype: torch.dtype = torch.float32,
) -> AnyText2Pipeline:
    """Convert an official checkpoint (.ckpt / official-format .safetensors / state dict) into an
    `AnyText2Pipeline` (saved to `out_dir` when given; `torch_dtype` float16 halves the folder)."""
    if config is None:
        config = AnyText2Config.from_yaml(yaml_path) if yaml_path else AnyText2Config.full()
    if isinstance(path_or_state_dict, Mapping):
        state, source = path_or_state_dict, "the state dict"
    else:
        state, source = load_checkpoint(path_or_state_dict), str(path_or_state_dict)
    pipe = AnyText2Pipeline(**convert_components(state, config, tokenizer_dir=tokenizer_dir, source=source))
    if torch_dtype != torch.float32:
        pipe.to_dtype(torch_dtype)
    if out_dir is not None:
        pipe.save_pretrained(str(out_dir))
    return pipe


def load_pipeline(model: str | Path | None = None, torch_dtype: torch.dtype = torch.float32) -> AnyText2Pipeline:
    """An `AnyText2Pipeline` from a converted folder, an official checkpoint, or a cached repository."""
    where = locate_model(model)
    if where.kind == "pipeline":
        try:
            return AnyText2Pipeline.from_pretrained(str(where.path), dtype=torch_dtype)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the AnyText2 pipeline folder {where.path}: {exc}") from None
    config = AnyText2Config.from_yaml(where.yaml) if where.yaml else AnyText2Config.full()
    return convert_anytext2_checkpoint(where.path, config=config, tokenizer_dir=where.tokenizer, torch_dtype=torch_dtype)
