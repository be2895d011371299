"""Evaluation with the AnyText-benchmark protocol (see docs/evaluation.md).

- `metrics`: sentence accuracy and NED exactly as ``eval/eval_dgocr.py`` defines them;
- `annotations`: AnyWord-3M JSON with the official filters;
- `ocr_eval`: crop each annotated line, recognise it, score it (`evaluate_ocr`);
- `fid`: pytorch-fid's FID Inception in plain torch, Fréchet distance (`fid_from_dirs`);
- `runner`: `wenchuang benchmark` (resumable, sharded generation, then the report);
- `report`: Markdown table, PIL plots, worst-case contact sheet.

Submodules are imported on demand: `fid` needs torch, the others do not.
"""
