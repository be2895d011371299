"""`wenchuang convert anytext`, `wenchuang download anytext`, `wenchuang dev parity`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

CONVERTED_DIR = "pipeline"  # `download anytext --dtype` writes its pipeline folder here (weights.locate_model finds it)


def register(subparsers) -> None:
    convert = subparsers.add_parser("convert", help="convert model weights into this project's format")
    convert_sub = convert.add_subparsers(dest="convert_what", metavar="WHAT", parser_class=type(convert))
    convert.set_defaults(handler=lambda args: convert.print_help() or 2)
    conv = convert_sub.add_parser(
        "anytext",
        help="official AnyText checkpoint (.ckpt or .safetensors) -> diffusers pipeline folder",
        description="Convert the official AnyText checkpoint into an AnyTextPipeline folder (model_index.json, "
        "safetensors). Any missing or unexpected key is an error listing them.",
    )
    conv.add_argument("checkpoint", metavar="CKPT", help="anytext_v1.1.ckpt or a .safetensors in the official key format")
    conv.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (created)")
    conv.add_argument(
        "--dtype", choices=["float32", "bfloat16", "float16"], default=None,
        help="dtype of the stored weights (default float32): bfloat16 for CPUs (half the memory and about "
        "half the time per step where the CPU has native bf16), float16 for GPUs",
    )
    conv.add_argument("--fp16", action="store_true", help="the same as --dtype float16")
    conv.add_argument("--yaml", metavar="YAML", help="official model yaml (default: the released model's numbers)")
    conv.add_argument(
        "--tokenizer", metavar="DIR",
        help="CLIP tokenizer folder (vocab.json, merges.txt); default: a tokenizer/ or clip-vit-large-patch14/ "
        "folder beside CKPT, else openai/clip-vit-large-patch14 from the Hugging Face cache",
    )
    conv.set_defaults(handler=cmd_convert_anytext)

    download = subparsers.add_parser("download", help="download model weights")
    download_sub = download.add_subparsers(dest="download_what", metavar="WHAT", parser_class=type(download))
    download.set_defaults(handler=lambda args: download.print_help() or 2)
    dl = download_sub.add_parser(
        "anytext",
        help="download the official AnyText v1.1 weights and CLIP's tokenizer (resumable, cached)",
    )
    dl.add_argument(
        "--to",
        metavar="DIR",
        help="target folder (default: $WENCHUANG_HOME/anytext when WENCHUANG_HOME is set, else "
        "~/.cache/wenchuang/anytext; loading without --model looks there too)",
    )
    dl.add_argument("--revision", metavar="R", help="branch, tag or commit of the repository")
    dl.add_argument("--repo", metavar="ID", help="repository id (default: the project's known mirror)")
    dl.add_argument(
        "--source", choices=["huggingface", "modelscope"], default="huggingface",
        help="where to download from (modelscope needs the modelscope package)",
    )
    dl.add_argument(
        "--precision", choices=["fp16", "fp32"], default="fp16",
        help="which copy of the weights to fetch from the Hugging Face mirror (fp16: half the download; "
        "default fp16)",
    )
    dl.add_argument(
        "--dtype", choices=["float32", "bfloat16", "float16"], default=None,
        help="after the download, convert the weights into a pipeline folder of this dtype in DIR/pipeline "
        "(found there without --model; bfloat16 for CPUs): loads faster and without a float32 copy",
    )
    dl.set_defaults(handler=cmd_download_anytext)
    _register_anytext2(convert_sub, download_sub)

    dev = subparsers.add_parser("dev", help="developer tools")
    dev_sub = dev.add_subparsers(dest="dev_command", metavar="TOOL", parser_class=type(dev))
    dev.set_defaults(handler=lambda args: dev.print_help() or 2)
    parity = dev_sub.add_parser(
        "parity",
        help="compare our AnyText / AnyText2 modules with the official implementation's reference outputs",
        description="Run a golden folder (official key-format checkpoint, yaml, per-case inputs and official "
        "outputs) through conversion and our modules; print one JSON object stage -> max error "
        "(relative to max|ref| where it exceeds 1). Exit 0 only if every stage is <= 1e-4. An AnyText2 folder "
        "(its yaml has the AnyText2 switches) is recognised and checked stage by stage, integer and "
        "preprocessing stages exactly.",
    )
    parity.add_argument("golden_dir", metavar="GOLDEN_DIR")
    parity.add_argument("--case", action="append", dest="cases", metavar="NAME", help="only this case (repeatable)")
    parity.add_argument("--quick", action="store_true", help="skip the full sampling run (latent_final, decoded)")
    parity.set_defaults(handler=cmd_dev_parity)


def cmd_convert_anytext(args) -> int:
    import torch

    from wenchuang.anytext.configs import AnyTextConfig
    from wenchuang.anytext.loading import convert_anytext_checkpoint
    from wenchuang.anytext.weights import tokenizer_beside

    config = AnyTextConfig.from_yaml(args.yaml) if args.yaml else AnyTextConfig.full()
    out = Path(args.out_dir)
    # --tokenizer, else the one `wenchuang download anytext` put beside the weights, else the HF cache
    tokenizer = args.tokenizer or tokenizer_beside(Path(args.checkpoint).expanduser().parent)
    dtype = _convert_dtype(args)
    print(f"converting {args.checkpoint} ...", file=sys.stderr)
    # cast tensor by tensor while converting: no float32 copy of a bfloat16/float16 pipeline
    convert_anytext_checkpoint(
        args.checkpoint, out, config=config, tokenizer_dir=tokenizer, torch_dtype=getattr(torch, dtype)
    )
    print(f"wrote {out} ({dtype})")
    return 0


def _convert_dtype(args) -> str:
    """--dtype, or float16 for --fp16, else float32 (both flags must agree)."""
    if args.fp16 and args.dtype not in (None, "float16"):
        from wenchuang.errors import RequestError

        raise RequestError("dtype", f"--fp16 and --dtype {args.dtype} disagree; give one of them")
    return args.dtype or ("float16" if args.fp16 else "float32")


def cmd_download_anytext(args) -> int:
    from wenchuang.anytext.weights import download_weights

    folder = download_weights(
        args.to, revision=args.revision, repo=args.repo, source=args.source, precision=args.precision
    )
    if args.dtype and not (folder / "model_index.json").is_file():
        import torch

        from wenchuang.anytext.loading import convert_anytext_checkpoint
        from wenchuang.anytext.weights import locate_model

        where = locate_model(str(folder))
        target = folder / CONVERTED_DIR
        print(f"converting {where.path} to {args.dtype} ...", file=sys.stderr)
        convert_anytext_checkpoint(
            where.path, target, yaml_path=where.yaml, tokenizer_dir=where.tokenizer,
            torch_dtype=getattr(torch, args.dtype),
        )
        print(f"AnyText pipeline ({args.dtype}) in {target}; the checkpoint in {folder} can be deleted; use --model {folder}")
        return 0
    print(f"AnyText weights in {folder}; use --model {folder}")
    return 0


def cmd_dev_parity(args) -> int:
    from wenchuang.anytext2.parity import is_anytext2_golden

    if is_anytext2_golden(args.golden_dir):  # its yaml has the AnyText2 switches
        return cmd_dev_parity_anytext2(args)
    from wenchuang.anytext.parity import parity_passed, run_parity

    errors = run_parity(args.golden_dir, cases=tuple(args.cases) if args.cases else None, full_sampling=not args.quick)
    print(json.dumps({k: (v if v == v and v != float("inf") else str(v)) for k, v in errors.items()}, indent=1))
    return 0 if parity_passed(errors) else 1


def cmd_dev_parity_anytext2(args) -> int:
    from wenchuang.anytext2.parity import parity_passed, run_parity, stage_tolerance

    errors, skipped = run_parity(
        args.golden_dir, cases=tuple(args.cases) if args.cases else None, full_sampling=not args.quick
    )
    print(json.dumps({k: (v if v == v and v != float("inf") else str(v)) for k, v in errors.items()}, indent=1))
    failed = [k for k, v in errors.items() if not v <= stage_tolerance(k)]
    for name in failed:
        print(f"FAILED {name}: {errors[name]:.3g} > {stage_tolerance(name):.3g}", file=sys.stderr)
    if skipped:
        print(f"skipped (fonts of the reference not installed): {', '.join(skipped)}", file=sys.stderr)
    if any(k.endswith("@near") for k in errors):
        print(
            "glyph images compared by near parity (@near): this Pillow's FreeType differs from the reference's "
            "2.13.0 (Pillow 9.5 gives pixel parity)",
            file=sys.stderr,
        )
    return 0 if parity_passed(errors) else 1


def _register_anytext2(convert_sub, download_sub) -> None:
    conv = convert_sub.add_parser(
        "anytext2",
        help="official AnyText2 checkpoint (anytext_v2.0.ckpt or .safetensors) -> diffusers pipeline folder",
        description="Convert the official AnyText2 checkpoint into an AnyText2Pipeline folder. Any missing or "
        "unexpected key is an error listing them.",
    )
    conv.add_argument("checkpoint", metavar="CKPT", help="anytext_v2.0.ckpt or a .safetensors in the official key format")
    conv.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (created)")
    conv.add_argument("--fp16", action="store_true", help="store the weights in float16 (half the size)")
    conv.add_argument("--yaml", metavar="YAML", help="official model yaml (default: the released model's numbers)")
    conv.add_argument(
        "--tokenizer", metavar="DIR",
        help="CLIP tokenizer folder; default: clip-vit-large-patch14/ or tokenizer/ beside CKPT, else the HF cache",
    )
    conv.set_defaults(handler=cmd_convert_anytext2)
    dl = download_sub.add_parser(
        "anytext2",
        help="download the official AnyText2 weights (ModelScope iic/cv_anytext2; resumable, checksummed)",
    )
    dl.add_argument("--to", metavar="DIR", help="target folder (default: $WENCHUANG_HOME/anytext2 or "
                    "~/.cache/wenchuang/anytext2)")
    dl.add_argument("--revision", metavar="R", help="revision of the repository")
    dl.add_argument("--repo", metavar="ID", help="repository id (ModelScope default iic/cv_anytext2; required "
                    "with --source huggingface)")
    dl.add_argument("--source", choices=["modelscope", "huggingface"], default="modelscope",
                    help="where to download from (modelscope needs `pip install modelscope`)")
    dl.set_defaults(handler=cmd_download_anytext2)


def cmd_convert_anytext2(args) -> int:
    import torch

    from wenchuang.anytext.weights import tokenizer_beside
    from wenchuang.anytext2.loading import convert_anytext2_checkpoint

    tokenizer = args.tokenizer or tokenizer_beside(Path(args.checkpoint).expanduser().parent)
    print(f"converting {args.checkpoint} ...", file=sys.stderr)
    dtype = torch.float16 if args.fp16 else torch.float32
    convert_anytext2_checkpoint(
        args.checkpoint, args.out_dir, yaml_path=args.yaml, tokenizer_dir=tokenizer, torch_dtype=dtype
    )
    print(f"wrote {args.out_dir} ({'float16' if args.fp16 else 'float32'})")
    return 0


def cmd_download_anytext2(args) -> int:
    from wenchuang.anytext2.weights import download_weights

    folder = download_weights(args.to, revision=args.revision, repo=args.repo, source=args.source)
    print(f"AnyText2 weights in {folder}; use --model {folder}")
    return 0
