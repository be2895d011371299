"""Keep the process's peak memory down around the VAE, the largest short-lived buffers of an image.

On Linux with glibc, PyTorch's CPU tensors come from `malloc`. Blocks above glibc's mmap threshold
are mapped and unmapped one by one, but that threshold rises (up to 32 MiB) each time a large mapped
block is freed, so the VAE's 16-128 MiB activations soon land on the heap, and freed heap memory is
kept by the process: after the VAE encode of a 512x512 image ~0.5 GiB stays resident through the
whole sampling loop, and the decode's buffers pile on top of it (measured in docs/benchmarks.md).

`vae_memory_section()` wraps a VAE call: before it, freed heap memory goes back to the system
(`malloc_trim`) and large blocks (>= 1 MiB) are mapped, so each one is returned the moment it is
freed; after it, the heap is trimmed again and the threshold is set to 32 MiB, where glibc's own
rule would have taken it, so the denoising steps allocate as before (a 1 MiB threshold throughout
costs seconds of page faults per step). Elsewhere (Windows, macOS, musl) it does nothing.
The setting is process-wide: two images decoded at once in two threads only change how much of the
freed memory goes back and how soon (never what is computed).

No torch here: a leaf module.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from contextlib import contextmanager
from functools import lru_cache

M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
SECTION_MMAP_THRESHOLD = 1 << 20  # inside a VAE section: every block of 1 MiB or more is mapped
STEADY_MMAP_THRESHOLD = 32 << 20  # afterwards: glibc's largest dynamic threshold on 64-bit systems


@lru_cache(maxsize=1)
def glibc():
    """The C library when it is glibc with `mallopt` and `malloc_trim`, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return libc


@contextmanager
def vae_memory_section(device: object = "cpu"):
    """Run a VAE encode/decode with its large buffers returned to the system as soon as they are freed.

    Only for a VAE on the CPU (`device`: a torch device or its name): on a GPU its buffers are not the
    process's heap, and trimming a large heap would only cost time."""
    libc = glibc()
    if libc is None or getattr(device, "type", str(device).split(":")[0]) != "cpu":
        yield
        return
    libc.malloc_trim(0)
    libc.mallopt(M_MMAP_THRESHOLD, SECTION_MMAP_THRESHOLD)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_THRESHOLD)
        libc.malloc_trim(0)
