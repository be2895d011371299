"""Loading AnyText: an `AnyTextPipeline` from wherever the weights are (`wenchuang.anytext.weights`).

- `load_pipeline(model)`: a converted folder, an official checkpoint (converted on the fly), or a
  repository in the Hugging Face cache;
- `convert_anytext_checkpoint(ckpt, out_dir)`: the official checkpoint as a pipeline, saved as a
  diffusers folder (`wenchuang convert anytext`).

Any dtype (`torch_dtype`: float32, bfloat16, float16) is reached without a float32 copy of the model:
a folder saved in that dtype is read as it is stored, and a checkpoint's tensors are cast one by one
as they are put into the modules. `folder_dtype(folder)` tells in which dtype a folder was saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from wenchuang.anytext.configs import AnyTextConfig
from wenchuang.anytext.convert import load_checkpoint
from wenchuang.anytext.pipeline import AnyTextPipeline
from wenchuang.anytext.weights import locate_model
from wenchuang.errors import ModelError


def load_pipeline(model: str | Path | None = None, torch_dtype: torch.dtype = torch.float32):
    """An `AnyTextPipeline` from a converted folder, an official checkpoint, or a cached repository."""
    where = locate_model(model)
    if where.kind == "pipeline":
        try:
            return AnyTextPipeline.from_pretrained(str(where.path), dtype=torch_dtype)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the AnyText pipeline folder {where.path}: {exc}") from None
    config = AnyTextConfig.from_yaml(where.yaml) if where.yaml else AnyTextConfig.full()
    return convert_anytext_checkpoint(
        where.path, config=config, tokenizer_dir=where.tokenizer, torch_dtype=torch_dtype
    )


def folder_dtype(folder: str | Path) -> str | None:
    """The dtype a pipeline folder's UNet weights are stored in ("float32", "bfloat16", "float16"), read
    from the safetensors header (no weights are loaded); None when there is no UNet file."""
    import json
    import struct

    names = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
    for path in sorted((Path(folder) / "unet").glob("*.safetensors")):
        with open(path, "rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
        for key, info in header.items():
            if key != "__metadata__" and info.get("dtype") in names:
                return names[info["dtype"]]
    return None


def convert_anytext_checkpoint(
    path_or_state_dict: str | Path | Mapping[str, torch.Tensor],
    out_dir: str | Path | None = None,
    *,
    config: AnyTextConfig | None = None,
    yaml_path: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
    torch_dtype: torch.dtype = torch.float32,
) -> AnyTextPipeline:
    """Convert an official checkpoint (file or state dict) into an `AnyTextPipeline`, saved to `out_dir`
    when given. The model config is `config`, else read from `yaml_path`, else the released one."""
    if config is None:
        config = AnyTextConfig.from_yaml(yaml_path) if yaml_path else AnyTextConfig.full()
    if isinstance(path_or_state_dict, Mapping):
        state, source = path_or_state_dict, "the state dict"
    else:
        state, source = load_checkpoint(path_or_state_dict), str(path_or_state_dict)
    pipe = AnyTextPipeline.from_official_state_dict(
        state, config, tokenizer_dir=tokenizer_dir, source=source, torch_dtype=torch_dtype
    )
    if out_dir is not None:
        pipe.save_pretrained(str(out_dir))
    return pipe
