"""wenchuang.training: data preparation, style fine-tuning, text-control training, merging.

- `anyword`: streaming AnyWord-3M reader/filter/writer (`filter_anyword`, `iter_anyword`);
- `prepare`: `prepare_dataset` (validate, de-duplicate, crop, flag watermarks, caption);
- `tagger`: `WD14Tagger` (WD14-style ONNX image tagger for kohya captions);
- `style`: `train_style` / `StyleTrainer` (DreamBooth or LoRA on an SD1.5 base);
- `text`: `train_text` / `TextTrainer` (AnyText's text ControlNet and embedding projection);
- `merge`: `merge_into_anytext` (a tuned SD1.5, single file or base + LoRA into AnyText);
- `common`: deterministic per-step randomness, data shards and gradient averaging over processes,
  checkpoints, optimisers and learning-rate schedules, the shared step loop;
- `launch`: `--num-processes N` (N local processes through torch's launcher).

Modules are imported on use: the CLI and the studio stay fast to start.
"""
