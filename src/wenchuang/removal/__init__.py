"""Text removal: find the text of an image, erase exactly its strokes, fill them from the
surroundings, and check by reading the result again.

- `remove_text(image, regions)`: erase the strokes inside given regions (uint8 {0, 1} H x W masks;
  `wenchuang.layout.polygons.polygon_mask` turns a polygon into one). Used by the classic engine's
  edit and by `wenchuang data prepare --watermarks remove`.
- `erase_text(image, ...)`: the verified path: erase given polygons and/or every text the detector
  finds (recall-tuned PP-OCR on the image, a contrast-enhanced and an inverted copy; only candidates
  that read as text and have stroke-like shapes), detect again and erase what is left (a bounded number
  of passes), re-read the whole image, widen and refill where text is still read, and report every
  region (polygon, reads before and after, passes) and any text still readable.
- `strokes`: stroke masks (background model, Lab colour clusters, refusal of oversized masks);
  `fill`: Telea for thin areas, structure + texture for thick ones; `lama`: the LaMa eraser
  (onnxruntime, downloaded on first use).

NumPy, OpenCV and the OCR reader only: no torch, no import from the engines (which sit above it).
"""

from wenchuang.removal.core import Eraser, TextRemoval, remove_text
from wenchuang.removal.detect import Candidate, find_text, is_readable, looks_like_text
from wenchuang.removal.fill import inpaint
from wenchuang.removal.strokes import StrokeMask, segment, segment_strokes
from wenchuang.removal.verified import ErasedRegion, Erasure, erase_text

__all__ = [
    "Candidate",
    "ErasedRegion",
    "Erasure",
    "Eraser",
    "StrokeMask",
    "TextRemoval",
    "erase_text",
    "find_text",
    "inpaint",
    "is_readable",
    "looks_like_text",
    "remove_text",
    "segment",
    "segment_strokes",
]
