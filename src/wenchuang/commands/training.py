"""`wenchuang data prepare|filter-anyword`, `wenchuang train style|text`, `wenchuang merge`."""

from __future__ import annotations

import argparse

from wenchuang.commands import check_output_file


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="prepare training data (images, captions, AnyWord files)")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    data.set_defaults(handler=lambda args: _help(data))
    _register_prepare(data_sub)
    _register_filter(data_sub)

    train = subparsers.add_parser("train", help="fine-tune a style (DreamBooth/LoRA) or the text control")
    train_sub = train.add_subparsers(dest="train_command", metavar="WHAT")
    train.set_defaults(handler=lambda args: _help(train))
    _register_train_style(train_sub)
    _register_train_text(train_sub)

    merge = subparsers.add_parser(
        "merge", help="put a tuned SD1.5 base (folder, single file, or base + LoRA) into an AnyText pipeline"
    )
    merge.add_argument("anytext", help="AnyText pipeline folder (or an official .ckpt, converted on the fly)")
    merge.add_argument(
        "base", help="tuned SD1.5: diffusers folder, .safetensors/.ckpt single file, or hub id"
    )
    merge.add_argument("out", help="output pipeline folder")
    merge.add_argument("--lora", help="LoRA weights (folder or .safetensors) fused into the base first")
    merge.add_argument(
        "--lora-scale", type=float, default=1.0, help="strength of the fused LoRA (default 1.0)"
    )
    merge.add_argument("--keep-vae", action="store_true", help="keep AnyText's VAE instead of the base's")
    merge.add_argument("--keep-text-encoder", action="store_true", help="keep AnyText's CLIP text encoder")
    merge.add_argument("--fp16", action="store_true", help="write weights in float16")
    merge.set_defaults(handler=_merge)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Options `train style` and `train text` share: schedule, checkpoints, processes."""
    p.add_argument(
        "--lr-scheduler", choices=("constant", "constant_with_warmup", "linear", "cosine"), default="constant",
        help="learning-rate schedule over --max-steps (default constant)",
    )  # fmt: skip
    p.add_argument("--lr-warmup-steps", type=int, default=0, help="linear warm-up steps (default 0)")
    p.add_argument(
        "--scale-lr", action="store_true",
        help="multiply --lr by the effective batch (batch size × accumulation × processes)",
    )  # fmt: skip
    p.add_argument("--keep-checkpoints", type=int, default=3, help="newest checkpoints kept (default 3)")
    p.add_argument(
        "--num-processes", type=int, default=1,
        help="run as N processes on this machine (one GPU each; torchrun on 127.0.0.1); "
        "or start the command with `accelerate launch`",
    )  # fmt: skip


def _run_training(kind: str, config, args) -> int:
    from wenchuang.training.launch import is_main_rank, launch

    if args.num_processes > 1:
        return launch(kind, config, args.num_processes)
    if args.num_processes < 1:
        from wenchuang.errors import RequestError

        raise RequestError("num_processes", f"must be at least 1, got {args.num_processes}")
    if kind == "style":
        from wenchuang.training.style import train_style as train
    else:
        from wenchuang.training.text import train_text as train
    result = train(config)
    if is_main_rank():
        print(f"trained {result.steps} steps; final loss {result.final_loss:.4f}; output: {result.output}")
    return 0


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# ---------------------------------------------------------------- data prepare
def _register_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="clean, de-duplicate, crop and caption a folder of photos")
    p.add_argument("src", help="folder of images (searched recursively)")
    p.add_argument("dst", help="output folder: NAME.png + NAME.txt per image, and prepare_report.json")
    p.add_argument("--size", type=int, default=512, help="output side in pixels (default 512)")
    p.add_argument("--crop", choices=("center", "saliency"), default="center", help="how to crop to square")
    p.add_argument("--min-side", type=int, default=256, help="skip images whose shorter side is smaller")
    p.add_argument("--dedup-distance", type=int, default=4, help="max dHash Hamming distance of duplicates")
    p.add_argument(
        "--watermarks",
        choices=("flag", "skip", "remove", "off"),
        default="flag",
        help="watermark handling: flag in the report (default), skip the image, remove the text "
        "(classic-engine inpainting), or off (no OCR)",
    )
    p.add_argument(
        "--tagger", help="WD14-style ONNX tagger: folder with model.onnx + selected_tags.csv, or hub id"
    )
    p.add_argument("--trigger", default="", help="trigger token put first in every caption")
    p.add_argument(
        "--general-threshold", type=float, default=0.35, help="general tag threshold (default 0.35)"
    )
    p.add_argument("--character-threshold", type=float, default=0.85, help="character tag threshold")
    p.add_argument("--keep-underscores", action="store_true", help="keep underscores in tags")
    p.set_defaults(handler=_prepare)


def _prepare(args) -> int:
    from wenchuang.training.prepare import PrepareConfig, prepare_dataset

    config = PrepareConfig(
        size=args.size,
        crop=args.crop,
        min_side=args.min_side,
        dedup_distance=args.dedup_distance,
        watermarks=args.watermarks,
        tagger=args.tagger,
        trigger=args.trigger,
        general_threshold=args.general_threshold,
        character_threshold=args.character_threshold,
        keep_underscores=args.keep_underscores,
    )
    report = prepare_dataset(args.src, args.dst, config)
    print(report.summary())
    return 0


# ---------------------------------------------------------------- data filter-anyword
def _register_filter(sub) -> None:
    p = sub.add_parser("filter-anyword", help="filter an AnyWord-3M JSON file (streamed, bounded memory)")
    p.add_argument("input", help="AnyWord JSON file")
    p.add_argument("output", help="filtered AnyWord JSON file to write")
    p.add_argument("--min-rec-score", type=float, help="lines with a lower rec_score become invalid (masked)")
    p.add_argument("--max-wm-score", type=float, default=0.5, help="drop entries with a higher wm_score")
    p.add_argument("--keep-watermark-text", action="store_true", help="keep entries with watermark-like text")
    p.add_argument("--min-lines", type=int, default=1, help="valid text lines an entry needs (default 1)")
    p.add_argument("--max-lines", type=int, default=5, help="valid text lines an entry may have (default 5)")
    p.add_argument("--max-chars", type=int, default=20, help="characters a line may have (default 20)")
    p.add_argument("--font", help="font whose missing characters drop an entry (default: the default font)")
    p.add_argument("--no-font-check", action="store_true", help="do not check characters against the font")
    p.add_argument("--min-size", type=int, default=256, help="shorter image side needed (when known)")
    p.add_argument("--check-images", action="store_true", help="read image headers under data_root for sizes")
    p.add_argument(
        "--ratio",
        type=float,
        default=3.0,
        help="keep every mainly-Chinese entry and mainly-Latin ones up to 1/RATIO of that number "
        "(default 3; 0 keeps every Latin entry); with --per-entry-language: target script ≥ RATIO × the other",
    )
    p.add_argument(
        "--target-size", type=int, help="at most N entries in all, at the same Chinese:Latin ratio"
    )
    p.add_argument("--seed", type=int, default=0, help="which entries the balance keeps (default 0)")
    p.add_argument(
        "--per-entry-language",
        choices=("chinese", "latin", "any"),
        help="instead of balancing the data set, keep entries whose own text is mainly this script "
        "(`any`: keep every language, no balance)",
    )
    p.add_argument(  # the option's old name
        "--language", dest="per_entry_language", choices=("chinese", "latin", "any"), help=argparse.SUPPRESS
    )
    p.add_argument("--stats", help="also write the statistics to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_filter_anyword)


def _filter_anyword(args) -> int:
    from wenchuang.training.anyword import FilterConfig, filter_anyword

    config = FilterConfig(
        min_rec_score=args.min_rec_score,
        max_wm_score=args.max_wm_score,
        drop_watermark_text=not args.keep_watermark_text,
        min_lines=args.min_lines,
        max_lines=args.max_lines,
        max_chars=args.max_chars,
        font=args.font,
        check_font=not args.no_font_check,
        min_size=args.min_size,
        check_images=args.check_images,
        language=None if args.per_entry_language in (None, "any") else args.per_entry_language,
        language_ratio=args.ratio,
        balance=args.per_entry_language is None,
        target_size=args.target_size,
        seed=args.seed,
    )
    if args.stats:
        check_output_file(args.stats, "--stats")
    stats = filter_anyword(args.input, args.output, config, progress=not args.quiet)
    print(stats.summary())
    if args.stats:
        from wenchuang.images import save_json_atomic  # noqa: PLC0415

        save_json_atomic(args.stats, stats.as_dict())
    return 0


# ---------------------------------------------------------------- train style
def _register_train_style(sub) -> None:
    p = sub.add_parser("style", help="DreamBooth or LoRA fine-tuning of an SD1.5 base on your images")
    p.add_argument("data", help="folder of images with kohya-style NAME.txt captions (from `data prepare`)")
    p.add_argument("out", help="output folder (diffusers pipeline, or LoRA safetensors)")
    p.add_argument("--base", required=True, help="SD1.5 diffusers folder or hub id")
    p.add_argument("--method", choices=("lora", "dreambooth"), default="lora")
    p.add_argument("--instance-prompt", default="", help="caption for images without a .txt file")
    p.add_argument("--class-prompt", help="class prompt for prior preservation")
    p.add_argument("--class-dir", help="folder of class images (generated there when too few)")
    p.add_argument("--prior-preservation", action="store_true", help="add the prior-preservation loss")
    p.add_argument("--prior-loss-weight", type=float, default=1.0)
    p.add_argument("--num-class-images", type=int, default=100)
    p.add_argument("--train-text-encoder", action="store_true")
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--gradient-accumulation", type=int, default=1)
    p.add_argument(
        "--lr", type=float, default=None, help="learning rate (default 1e-4 LoRA, 2e-6 DreamBooth)"
    )
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument("--rank", type=int, default=16, help="LoRA rank")
    p.add_argument("--lora-alpha", type=float, help="LoRA alpha (default: the rank)")
    p.add_argument("--lora-conv", action="store_true", help="also adapt the UNet's ResNet convolutions")
    p.add_argument(
        "--random-flip", action="store_true", help="mirror images at random (not for text or logos)"
    )
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--use-8bit-adam", action="store_true", help="bitsandbytes AdamW8bit when installed")
    p.add_argument("--checkpoint-steps", type=int, default=500)
    p.add_argument("--resume", help="checkpoint folder, or 'latest' (in OUT)")
    p.add_argument("--validation-prompt", help="prompt for validation images")
    p.add_argument("--validation-steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    _add_run_options(p)
    p.set_defaults(handler=_train_style)


def _train_style(args) -> int:
    from wenchuang.training.style import StyleConfig

    config = StyleConfig(
        base=args.base,
        data_dir=args.data,
        output_dir=args.out,
        method=args.method,
        instance_prompt=args.instance_prompt,
        class_prompt=args.class_prompt,
        class_dir=args.class_dir,
        prior_preservation=args.prior_preservation,
        prior_loss_weight=args.prior_loss_weight,
        num_class_images=args.num_class_images,
        train_text_encoder=args.train_text_encoder,
        resolution=args.resolution,
        batch_size=args.batch_size,
        gradient_accumulation=args.gradient_accumulation,
        learning_rate=args.lr,
        max_steps=args.max_steps,
        lora_rank=args.rank,
        lora_alpha=args.lora_alpha,
        lora_conv=args.lora_conv,
        random_flip=args.random_flip,
        mixed_precision=args.mixed_precision,
        gradient_checkpointing=args.gradient_checkpointing,
        use_8bit_adam=args.use_8bit_adam,
        checkpoint_steps=args.checkpoint_steps,
        resume=args.resume,
        validation_prompt=args.validation_prompt,
        validation_steps=args.validation_steps,
        seed=args.seed,
        scale_lr=args.scale_lr,
        lr_scheduler=args.lr_scheduler,
        lr_warmup_steps=args.lr_warmup_steps,
        checkpoints_total_limit=args.keep_checkpoints,
    )
    return _run_training("style", config, args)


# ---------------------------------------------------------------- train text
def _register_train_text(sub) -> None:
    p = sub.add_parser(
        "text", help="train AnyText's text ControlNet and embedding projection on AnyWord data"
    )
    p.add_argument("data", nargs="+", help="AnyWord JSON file(s) (images under their data_root)")
    p.add_argument("out", help="output folder (the AnyText pipeline with the trained modules)")
    p.add_argument("--model", required=True, help="AnyText pipeline folder to start from")
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--gradient-accumulation", type=int, default=1)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument(
        "--ocr-loss-weight", type=float, default=0.003, help="OCR perceptual loss weight (official 0.003)"
    )
    p.add_argument(
        "--position-weight",
        type=float,
        default=0.0,
        help="extra diffusion-loss weight inside text regions (0 = official)",
    )
    p.add_argument(
        "--latin-weight", type=float, default=1.0, help="OCR-loss weight of Latin lines (official 1.0)"
    )
    p.add_argument("--max-lines", type=int, default=5, help="text lines per sample (official 5)")
    p.add_argument("--font", help="font for the glyph images (default: the default font)")
    p.add_argument(
        "--mask-image-prob", type=float, default=0.5, help="share of editing samples (official 0.5)"
    )
    p.add_argument("--ema", action="store_true", help="keep an exponential moving average of the weights")
    p.add_argument("--ema-decay", type=float, default=0.9999)
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no")
    p.add_argument(
        "--gradient-checkpointing", action="store_true", help="recompute ControlNet/UNet activations"
    )
    p.add_argument("--use-8bit-adam", action="store_true", help="bitsandbytes AdamW8bit when installed")
    p.add_argument("--checkpoint-steps", type=int, default=500)
    p.add_argument("--resume", help="checkpoint folder, or 'latest' (in OUT)")
    p.add_argument("--seed", type=int, default=0)
    _add_run_options(p)
    p.set_defaults(handler=_train_text)


def _train_text(args) -> int:
    from wenchuang.training.text import TextConfig

    config = TextConfig(
        model=args.model,
        data=list(args.data),
        output_dir=args.out,
        resolution=args.resolution,
        batch_size=args.batch_size,
        gradient_accumulation=args.gradient_accumulation,
        learning_rate=args.lr,
        max_steps=args.max_steps,
        ocr_loss_weight=args.ocr_loss_weight,
        position_weight=args.position_weight,
        latin_weight=args.latin_weight,
        max_lines=args.max_lines,
        font=args.font,
        mask_image_prob=args.mask_image_prob,
        ema=args.ema,
        ema_decay=args.ema_decay,
        mixed_precision=args.mixed_precision,
        gradient_checkpointing=args.gradient_checkpointing,
        use_8bit_adam=args.use_8bit_adam,
        checkpoint_steps=args.checkpoint_steps,
        resume=args.resume,
        seed=args.seed,
        scale_lr=args.scale_lr,
        lr_scheduler=args.lr_scheduler,
        lr_warmup_steps=args.lr_warmup_steps,
        checkpoints_total_limit=args.keep_checkpoints,
    )
    return _run_training("text", config, args)


# ---------------------------------------------------------------- merge
def _merge(args) -> int:
    from wenchuang.training.merge import merge_into_anytext

    report = merge_into_anytext(
        args.anytext,
        args.base,
        args.out,
        lora=args.lora,
        lora_scale=args.lora_scale,
        keep_vae=args.keep_vae,
        keep_text_encoder=args.keep_text_encoder,
        fp16=args.fp16,
    )
    print(report)
    return 0
