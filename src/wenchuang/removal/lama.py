"""The learned eraser: LaMa (Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier
Convolutions", WACV 2022; the model IOPaint uses by default) run by onnxruntime.

The model is the ONNX export published as ``Carve/LaMa-ONNX`` on the Hugging Face Hub (file
``lama_fp32.onnx``, Apache-2.0, converted from the official big-lama checkpoint), pinned to one revision
and checked against its SHA-256 after download. It is fetched on first use into
``$WENCHUANG_HOME/lama`` (default ``~/.cache/wenchuang/lama``) with a progress bar.

The export takes two inputs, ``image`` (1 x 3 x 512 x 512, RGB in [0, 1]) and ``mask``
(1 x 1 x 512 x 512, 1 = fill), and returns ``output`` (1 x 3 x 512 x 512; this export gives 0-255,
others 0-1: both are accepted). `LamaEraser` works on any image size: every group of masked pixels
gets a square window with context around it (grown to the model's size when smaller, tiled when
larger), resized to the model's input, filled, resized back, and only the masked pixels are pasted.
A model with free spatial dimensions is fed the window padded to a multiple of 8 instead.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from wenchuang.errors import ModelError
from wenchuang.paths import weights_home

__all__ = [
    "LAMA_FILE",
    "LAMA_REPO",
    "LAMA_REVISION",
    "LAMA_SHA256",
    "LamaEraser",
    "download_lama",
    "get_lama",
    "lama_path",
    "lama_status",
    "sha256_file",
]

LAMA_REPO = "Carve/LaMa-ONNX"
LAMA_FILE = "lama_fp32.onnx"
LAMA_REVISION = "a3ee2fca54baebec351b8fa7786154ffa7555aa6"  # the commit that uploaded this file
LAMA_SHA256 = "1faef5301d78db7dda502fe59966957ec4b79dd64e16f03ed96913c7a4eb68d6"
LAMA_BYTES = 208_044_816
LAMA_LICENSE = "Apache-2.0"
MODEL_SIDE = 512  # the export's input size
CONTEXT = 1.0  # a window is the masked group's size plus this much of it on every side
MAX_WINDOW = 1024  # a window at most this wide before it is split into tiles (each resized to 512)
TILE_OVERLAP = 64  # pixels shared by neighbouring tiles (context; each fills only its own core)


# ------------------------------------------------------------------ the file
def lama_path(folder: str | Path | None = None) -> Path:
    """Where the model lives: `folder` or ``weights_home("lama")``, then ``lama_fp32.onnx``."""
    return Path(folder or weights_home("lama")) / LAMA_FILE


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def lama_status(folder: str | Path | None = None) -> tuple[bool, str]:
    """(ready, detail) for the studio's engine picker and the CLI."""
    path = lama_path(folder)
    if path.is_file():
        return True, f"LaMa eraser ready ({path})"
    return False, (
        f"LaMa eraser: downloads {LAMA_BYTES / 1e6:.0f} MB ({LAMA_REPO}, {LAMA_LICENSE}) on first use into "
        f"{path.parent}"
    )


def download_lama(
    folder: str | Path | None = None,
    *,
    repo: str = LAMA_REPO,
    filename: str = LAMA_FILE,
    revision: str = LAMA_REVISION,
    sha256: str = LAMA_SHA256,
) -> Path:
    """Fetch the model from the Hugging Face Hub (progress bar; resumable) into `folder` and check its
    SHA-256. A file whose checksum differs is deleted and refused (`ModelError`)."""
    target = lama_path(folder).parent
    target.mkdir(parents=True, exist_ok=True)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelError(f"downloading LaMa needs the huggingface_hub package: {exc}") from None
    try:
        path = Path(hf_hub_download(repo, filename, revision=revision, local_dir=str(target)))
    except Exception as exc:  # network, offline mode, missing file: one clear message
        raise ModelError(
            f"could not download {filename} from {repo} (revision {revision[:10]}): {exc}. "
            f"Put the file at {target / LAMA_FILE} by hand, or use --eraser opencv"
        ) from None
    actual = sha256_file(path)
    if actual != sha256:
        path.unlink(missing_ok=True)
        raise ModelError(
            f"{filename} from {repo} has SHA-256 {actual}, expected {sha256}: the file was deleted "
            "(a corrupted or altered download); try again"
        )
    final = target / LAMA_FILE
    if path != final:
        os.replace(path, final)
    return final


# ------------------------------------------------------------------ the eraser
class LamaEraser:
    """Fills masked pixels with LaMa. `model_path`: an ONNX file with inputs (image 1x3xHxW, mask
    1x1xHxW) and one 1x3xHxW output; `threads`: onnxruntime intra-op threads (default: as the OCR)."""

    name = "lama"

    def __init__(self, model_path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        from wenchuang.ocr.reader import ort_threads

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or ort_threads()
        options.inter_op_num_threads = 1
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=providers)
        except Exception as exc:
            raise ModelError(f"could not load the LaMa model {model_path}: {exc}") from None
        inputs = {tuple(i.shape)[1]: i for i in self._session.get_inputs() if len(i.shape) == 4}
        if set(inputs) != {3, 1} or len(self._session.get_inputs()) != 2:
            shapes = [(i.name, i.shape) for i in self._session.get_inputs()]
            raise ModelError(f"{model_path} is not a LaMa export: inputs {shapes}, expected image 1x3xHxW and mask 1x1xHxW")
        self._image_name, self._mask_name = inputs[3].name, inputs[1].name
        height, width = inputs[3].shape[2:]
        self.side = int(height) if isinstance(height, int) and height == width else None  # None: any size
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """A new image: `image` (RGB uint8) with the pixels of `mask` (uint8 {0,1}) filled."""
        out = image.copy()
        if not mask.any():
            return out
        for x0, y0, x1, y1, core in windows(mask, self.side or MODEL_SIDE):
            filled = self._fill(out[y0:y1, x0:x1], mask[y0:y1, x0:x1])
            keep = core & mask[y0:y1, x0:x1].astype(bool)
            out[y0:y1, x0:x1][keep] = filled[keep]
        return out

    def _fill(self, window: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The model's fill of one window (any size), as uint8 of the window's size."""
        h, w = window.shape[:2]
        side = max(h, w)
        # square (reflecting the image; the padding is never masked), then the model's size
        square = cv2.copyMakeBorder(window, 0, side - h, 0, side - w, cv2.BORDER_REFLECT_101)
        square_mask = np.zeros((side, side), np.uint8)
        square_mask[:h, :w] = mask
        size = self.side or int(np.ceil(side / 8) * 8)
        interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        pixels = cv2.resize(square, (size, size), interpolation=interp).astype(np.float32) / 255.0
        # any coverage makes a hole: a stroke thinner than the scale factor must not vanish
        coverage = cv2.resize(square_mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
        holes = (coverage > 0).astype(np.float32)
        # grow the hole by a pixel so resampled edge pixels of the text are filled too
        holes = cv2.dilate(holes, np.ones((3, 3), np.uint8))
        pixels *= 1.0 - holes[..., None]
        feed = {
            self._image_name: pixels.transpose(2, 0, 1)[None],
            self._mask_name: holes[None, None],
        }
        with self._lock:
            result = self._session.run(None, feed)[0][0].transpose(1, 2, 0)
        if float(result.max()) <= 2.0:  # a 0-1 export
            result = result * 255.0
        result = np.clip(result, 0, 255).astype(np.float32)
        back = cv2.resize(result, (side, side), interpolation=cv2.INTER_CUBIC if side > size else cv2.INTER_AREA)
        return np.clip(back[:h, :w] + 0.5, 0, 255).astype(np.uint8)


def windows(mask: np.ndarray, side: int = MODEL_SIDE):
    """(x0, y0, x1, y1, core) windows covering every masked pixel: one square window with context per
    group of nearby masked pixels, at least `side` wide where the image allows; a group wider than
    `MAX_WINDOW` is split into overlapping tiles whose cores (bool, window-sized) partition it."""
    height, width = mask.shape
    grouped = cv2.dilate(mask, np.ones((33, 33), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    for label in range(1, count):
        x, y, w, h, _ = stats[label]
        span = max(w, h)
        if span * (1 + 2 * CONTEXT) <= MAX_WINDOW:
            size = min(max(int(span * (1 + 2 * CONTEXT)), side), max(width, height))
            x0, y0 = _place(x + w / 2, size, width), _place(y + h / 2, size, height)
            x1, y1 = min(width, x0 + size), min(height, y0 + size)
            yield x0, y0, x1, y1, np.ones((y1 - y0, x1 - x0), bool)
            continue
        step = MAX_WINDOW - 2 * TILE_OVERLAP
        for ty in range(y, y + h, step):
            for tx in range(x, x + w, step):
                cx1, cy1 = min(tx + step, x + w), min(ty + step, y + h)
                x0, y0 = max(0, tx - TILE_OVERLAP), max(0, ty - TILE_OVERLAP)
                x1, y1 = min(width, cx1 + TILE_OVERLAP), min(height, cy1 + TILE_OVERLAP)
                core = np.zeros((y1 - y0, x1 - x0), bool)
                core[ty - y0:cy1 - y0, tx - x0:cx1 - x0] = True
                yield x0, y0, x1, y1, core


def _place(centre: float, size: int, limit: int) -> int:
    """The start of a window of `size` centred on `centre`, shifted to lie inside [0, limit)."""
    return int(max(0, min(limit - size, round(centre - size / 2))))


_CACHE: dict[str, LamaEraser] = {}
_CACHE_LOCK = threading.Lock()


def get_lama(folder: str | Path | None = None, download: bool = True) -> LamaEraser:
    """The shared LaMa eraser, downloading the model first when it is missing and `download` is on."""
    path = lama_path(folder)
    with _CACHE_LOCK:
        if str(path) not in _CACHE:
            if not path.is_file():
                if not download:
                    raise ModelError(lama_status(folder)[1])
                path = download_lama(folder)
            _CACHE[str(path)] = LamaEraser(path)
        return _CACHE[str(path)]
