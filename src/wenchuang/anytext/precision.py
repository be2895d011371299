"""Which floating-point type the model engines run in (shared by AnyText and AnyText2).

`DTYPE_CHOICES` are the names the CLI and the studio accept; "auto" picks float16 on a GPU,
bfloat16 on a CPU with native bf16 arithmetic (AVX512-BF16 or AMX on x86, the BF16 extension on
Arm), else float32. float16 on a CPU is allowed but no faster than float32 there; bfloat16 on such
a CPU halves the memory and the time of a step (docs/benchmarks.md).

No torch at import: the CLI builds its options from `DTYPE_CHOICES` cheaply.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache

from wenchuang.errors import RequestError

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
# other spellings people use for the same types
_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}
# /proc/cpuinfo flags of CPUs with native bf16 dot products (x86: AVX512-BF16, AMX; Arm: BF16)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def dtype_name(value) -> str:
    """A canonical name from a name, alias or torch dtype ("bf16" and torch.bfloat16 -> "bfloat16")."""
    text = str(value).removeprefix("torch.").strip().lower()
    text = _ALIASES.get(text, text)
    if text not in DTYPE_CHOICES:
        raise RequestError("dtype", f"must be one of {', '.join(DTYPE_CHOICES)}, got {value!r}")
    return text


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU feature flags (Linux /proc/cpuinfo "flags" or "Features" lines; empty elsewhere)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            return set()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags


@lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively ($WENCHUANG_CPU_BF16=1/0 overrides)."""
    env = os.environ.get("WENCHUANG_CPU_BF16", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    try:  # what PyTorch itself detected (torch.cpu's private probes; absent in some versions)
        import torch.cpu

        for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
            if getattr(torch.cpu, probe, lambda: False)():
                return True
    except Exception:  # noqa: BLE001 - the flags below decide then
        pass
    flags = cpu_flags()
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "bf16" in flags
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def auto_dtype_name(device: str) -> str:
    """float16 on a GPU, bfloat16 on a bf16-capable CPU, else float32."""
    if not str(device).startswith("cpu"):
        return "float16"
    return "bfloat16" if cpu_supports_bf16() else "float32"


def resolve_dtype_name(choice, device: str) -> str:
    """The dtype name a model runs in on `device`: `choice` ("auto", a name, alias or torch dtype)."""
    name = dtype_name("auto" if choice is None else choice)
    return auto_dtype_name(device) if name == "auto" else name


def resolve_dtype(choice, device: str):
    """As `resolve_dtype_name`, as a torch dtype."""
    import torch

    return getattr(torch, resolve_dtype_name(choice, device))
