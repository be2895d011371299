"""Reading text with AnyText's own PP-OCRv3 recogniser (the torch network of `wenchuang.anytext.recognizer`).

The other OCR of the project (`wenchuang.ocr.reader`, PP-OCRv4 on onnxruntime) needs no weights;
this one reads crops the way AnyText's OCR losses and the AnyText-benchmark evaluation do, from the
released ``ppv3_rec.pth`` and its ``ppocr_keys_v1.txt``:

- `load_recognizer(weights)`: an `OCRReader` for those files;
- `OCRReader.recognize(crops)`: (text, score) per H x W x 3 RGB crop;
- `load_character_dict` and `ctc_greedy_decode`: the CTC head's classes and best-path decoding.

Imports torch: `wenchuang.ocr` does not import this module, so the light OCR stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from wenchuang.anytext.recognizer import AnyTextRecognizer, prepare_ocr_input
from wenchuang.checkpoints import read_state_dict
from wenchuang.errors import ModelError

__all__ = ["OCRReader", "ctc_greedy_decode", "load_character_dict", "load_recognizer"]


# --------------------------------------------------------------------------- reading text back
def load_character_dict(path: str | Path) -> list[str]:
    """Class list of the CTC head from a PP-OCR dictionary file (``ppocr_keys_v1.txt``, one char a line).

    Index 0 is the CTC blank, the file's characters follow, and the last class is a space.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot read the OCR character dictionary {path}: {exc.strerror or exc}") from None
    chars = [line.rstrip("\r") for line in text.split("\n")]
    if chars and chars[-1] == "":
        chars.pop()
    return ["<blank>", *chars, " "]


def ctc_greedy_decode(logits: torch.Tensor, characters: Sequence[str]) -> list[tuple[str, float]]:
    """Best-path CTC decoding: (text, mean probability of the kept characters) per row of ``logits``."""
    if logits.shape[-1] != len(characters):
        raise ModelError(
            f"the character dictionary has {len(characters)} classes but the recogniser {logits.shape[-1]}"
        )
    probs = logits.float().softmax(dim=-1)
    scores, indices = probs.max(dim=-1)
    results = []
    for row_idx, row_scores in zip(indices.tolist(), scores.tolist(), strict=True):
        text, kept, previous = [], [], None
        for index, score in zip(row_idx, row_scores, strict=True):
            if index != 0 and index != previous:
                text.append(characters[index])
                kept.append(score)
            previous = index
        results.append(("".join(text), float(sum(kept) / len(kept)) if kept else 0.0))
    return results


# --------------------------------------------------------------------------- a reader for crops
class OCRReader:
    """Reads text from image crops with the AnyText recogniser and its character dictionary."""

    def __init__(self, model: AnyTextRecognizer, characters: Sequence[str]):
        if len(characters) != model.config.num_classes:
            raise ModelError(
                f"the character dictionary has {len(characters)} classes but the recogniser "
                f"{model.config.num_classes}"
            )
        self.model = model.eval()
        self.characters = list(characters)

    @torch.no_grad()
    def recognize(self, crops: Sequence) -> list[tuple[str, float]]:
        """(text, score) for each crop: H x W x 3 uint8 RGB arrays (or H x W grey)."""
        if not crops:
            return []
        device = next(self.model.parameters()).device
        images = []
        for crop in crops:
            array = torch.as_tensor(crop).float()
            if array.dim() == 2:
                array = array[..., None].expand(-1, -1, 3)
            # PP-OCR models were trained on BGR images (cv2.imread): flip the channel order
            images.append(array[..., :3].flip(-1).permute(2, 0, 1) / 255.0)
        batch = prepare_ocr_input(images, self.model.config.image_height, self.model.config.image_width).to(
            device
        )
        _, logits = self.model(batch)
        return ctc_greedy_decode(logits, self.characters)


def load_recognizer(
    weights: str | Path,
    device: str | torch.device = "cpu",
    character_dict: str | Path | None = None,
) -> OCRReader:
    """`OCRReader` from the released ``ppv3_rec.pth`` (or an AnyText checkpoint's ``text_predictor.*``).

    ``character_dict`` defaults to ``ppocr_keys_v1.txt`` beside the weights (as the release ships them).
    The checkpoint is read with ``weights_only=True`` (no code from it runs).
    """
    weights = Path(weights)
    if not weights.is_file():
        raise ModelError(f"OCR recogniser weights not found: {weights}")
    state = read_state_dict(weights)
    dict_path = Path(character_dict) if character_dict is not None else weights.parent / "ppocr_keys_v1.txt"
    characters = load_character_dict(dict_path)
    model = AnyTextRecognizer.from_official(
        {k: v.float() if v.is_floating_point() else v for k, v in state.items() if isinstance(v, torch.Tensor)}
    )
    return OCRReader(model.to(device), characters)
