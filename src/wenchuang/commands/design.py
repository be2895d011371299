"""`wenchuang generate` and `wenchuang edit`: one request, one engine, images + metadata on disk.

Each image is written as DIR/NAME.png with DIR/NAME.json (request, seed, engine, OCR readings,
timings); NAME is generated. One line per image is printed with its OCR check.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from wenchuang.anytext.precision import DTYPE_CHOICES
from wenchuang.engines import registry
from wenchuang.engines.base import run_request
from wenchuang.errors import RequestError
from wenchuang.prompts import quoted_texts
from wenchuang.request import (
    DEFAULT_SAMPLER,
    SAMPLER_STEPS,
    SAMPLERS,
    DesignRequest,
    DesignResult,
    TextLine,
    default_steps,
    parse_size,
)


def register(subparsers) -> None:
    engines = registry.engine_names()

    gen = subparsers.add_parser(
        "generate",
        help="make images with the given text lines",
        description="Make images whose text is exactly the given lines. Each --text goes into the --position "
        "given after it (x1,y1,x2,y2 or a quad of 8 numbers, in pixels); without positions the lines are "
        'placed automatically. Without --text, the texts quoted in --prompt ("…", “…”, 「…」) are used.',
    )
    _common(gen, engines)
    gen.add_argument("--prompt", default="", help="what the image shows; quoted texts become lines")
    gen.add_argument("--size", default="512x512", metavar="WxH", help="image size (default 512x512)")
    gen.add_argument("--image", metavar="IMG", help="draw onto this image instead of a new one")
    gen.add_argument("--count", type=int, default=1, metavar="K", help="number of images (default 1)")
    gen.set_defaults(handler=cmd_generate)

    edit = subparsers.add_parser(
        "edit",
        help="replace or remove the text of an image",
        description="Edit the text of an image: --text NEW --position BOX replaces the text inside BOX; "
        "--text alone (no --position, --mask or --remove-all-text) replaces the lines the OCR detector "
        "finds, in reading order, one --text per line found; "
        "--remove --position BOX erases it; --remove-all-text erases every text the detector finds "
        "(with --text, the new lines are then placed automatically); "
        "--mask PNG erases the text under the mask's white strokes.",
    )
    _common(edit, engines)
    edit.add_argument(
        "--image", required=True, metavar="IMG", help="the image to edit (PNG, JPEG, WebP, BMP)"
    )
    edit.add_argument("--prompt", default="", help="what the image shows (used by model engines)")
    edit.add_argument("--remove", action="store_true", help="erase the text inside every --position")
    edit.add_argument("--remove-all-text", action="store_true", help="erase all text the OCR detector finds")
    edit.add_argument("--mask", metavar="PNG", help="image of the image's size; white = erase the text there")
    edit.add_argument(
        "--eraser",
        choices=("opencv", "lama"),
        default="opencv",
        help="how the classic engine fills erased text: opencv (default; no download) or lama (the LaMa "
        "model, 208 MB, downloaded on first use). Exit status 3 when text is still readable afterwards",
    )
    edit.set_defaults(handler=cmd_edit)


def _common(parser: argparse.ArgumentParser, engines: list[str]) -> None:
    parser.add_argument(
        "--engine",
        choices=engines,
        help="engine (default: the best one whose weights are ready: anytext2, then anytext, then classic)",
    )
    parser.add_argument("--model", metavar="M", help="model folder or name for model engines")
    parser.add_argument(
        "--text", action="append", default=[], metavar="T", help="a line of text (repeatable)"
    )
    parser.add_argument(
        "--position",
        action="append",
        default=[],
        metavar="BOX",
        help="where the preceding --text goes: x1,y1,x2,y2 or x1,y1,...,x4,y4 (repeatable)",
    )
    parser.add_argument(
        "--font",
        action="append",
        default=[],
        metavar="F",
        help="font name or TTF/OTF/TTC path: once for every line, or once per --text in order; anytext2 "
        "edits also take 'mimic' (imitate the lettering in the line's region) or 'mimic:x1,y1,x2,y2'",
    )
    parser.add_argument(
        "--color",
        action="append",
        default=[],
        metavar="#RRGGBB",
        help="text colour: once for every line, or once per --text in order",
    )
    parser.add_argument("--seed", type=int, default=-1, metavar="N", help="random seed (default: random)")
    parser.add_argument(
        "--steps", type=int, default=None,
        help="sampling steps for model engines (default: the sampler's: " + _sampler_defaults() + ")",
    )
    parser.add_argument(
        "--sampler", choices=SAMPLERS, default=None,
        help="sampler of model engines (default ddim, the official one; dpmpp_2m or unipc at 10 steps are about "
        "twice as fast; lcm/tcd need --lora)",
    )
    parser.add_argument(
        "--dtype", choices=DTYPE_CHOICES, default=None,
        help="number format of model engines (default auto: float16 on a GPU, bfloat16 on a CPU with native "
        "bf16, else float32)",
    )
    parser.add_argument(
        "--lora", metavar="FILE",
        help="few-step LoRA for SD1.5 (LCM-LoRA, TCD or Hyper-SD .safetensors) fused into the model; its "
        "sampler, steps and guidance become the defaults",
    )
    parser.add_argument(
        "--prompt-en",
        metavar="P",
        help="English prompt for model engines, used as given (default: a Chinese --prompt is translated; "
        "try `wenchuang prompt translate`)",
    )
    parser.add_argument(
        "--cpu-offload",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="model engines on a GPU: keep only the running part on the GPU (less memory, slower); "
        "default: on for GPUs under 7 GiB",
    )
    parser.add_argument(
        "--self-correct",
        type=int,
        default=0,
        metavar="N",
        help="re-edit each line the OCR reads wrong, up to N rounds (0-10; default 0 = off)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for NAME.png + NAME.json")


# ---------------------------------------------------------------------- handlers
def cmd_generate(args: argparse.Namespace) -> int:
    width, height = parse_size(args.size)
    texts = list(args.text)
    if not texts and args.prompt:
        texts = quoted_texts(args.prompt)
    if not texts and not args.prompt.strip():
        raise RequestError("text", "give at least one --text (or a --prompt with quoted text)")
    polygons = _positions(args.position, len(texts), required=False)
    lines = _lines(args, texts, polygons)
    image = _load(args.image) if args.image else None
    request = DesignRequest(
        mode="generate",
        prompt=args.prompt,
        lines=lines,
        image=image,
        image_count=args.count,
        **_sampling(args),
        seed=args.seed,
        width=width,
        height=height,
        translated_prompt=args.prompt_en,
        self_correct=args.self_correct,
    )
    return _run(args, request)


def cmd_edit(args: argparse.Namespace) -> int:
    image = _load(args.image)
    mask = None
    if args.mask:
        mask = _load(args.mask).max(axis=2) > 127
        mask = mask.astype(np.uint8) * 255
    lines: list[TextLine] = []
    remove: list = []
    if args.remove:
        if args.text:
            raise RequestError(
                "text", "--remove erases the text at each --position; do not give --text with it"
            )
        if not args.position:
            raise RequestError("position", "--remove needs at least one --position BOX to erase")
        remove = _positions(args.position, len(args.position), required=True)
    else:
        polygons = _positions(args.position, len(args.text), required=False)
        if args.text and not args.position and mask is None and not args.remove_all_text:
            polygons = _detected_lines(image, len(args.text))
        lines = _lines(args, args.text, polygons)
    request = DesignRequest(
        mode="edit",
        prompt=args.prompt,
        lines=lines,
        image=image,
        mask=mask,
        remove_regions=remove,
        remove_all_text=bool(args.remove_all_text),
        **_sampling(args),
        seed=args.seed,
        translated_prompt=args.prompt_en,
        self_correct=args.self_correct,
    )
    return _run(args, request)


# ---------------------------------------------------------------------- helpers
def _sampler_defaults() -> str:
    return ", ".join(f"{name} {steps}" for name, steps in SAMPLER_STEPS.items())


def _sampling(args: argparse.Namespace) -> dict:
    """sampler and steps of the request: as given, else a --lora's own, else ddim and the sampler's steps."""
    sampler, steps = args.sampler, args.steps
    if args.lora and sampler is None:
        from wenchuang.anytext.lora import lora_kind

        _, sampler, lora_steps, _ = lora_kind(args.lora)
        steps = lora_steps if steps is None else steps
    sampler = sampler or DEFAULT_SAMPLER
    return {"sampler": sampler, "steps": default_steps(sampler) if steps is None else steps}


def _load(path: str) -> np.ndarray:
    from wenchuang.images import load_image

    return load_image(path)


def _detected_lines(image: np.ndarray, count: int) -> list:
    """`edit --text` without positions: the boxes of the text lines the detector finds, in reading
    order, one per --text; a clear error when their number differs."""
    from wenchuang.ocr import get_detector, read_lines

    boxes = [[(float(x), float(y)) for x, y in box] for box in get_detector().detect_boxes(image)]
    if not boxes:
        raise RequestError(
            "position", "no text found in the image to replace; give a --position BOX for each --text"
        )
    if len(boxes) != count:
        found = ", ".join(
            f'"{text.strip()}" at {",".join(str(round(v)) for v in (*box[0], *box[2]))}'
            for (text, _), box in zip(read_lines(image, boxes), boxes)
        )
        raise RequestError(
            "text",
            f"{count} --text value(s) given but {len(boxes)} line(s) of text found ({found}); give one --text "
            "per line found, in reading order, or a --position BOX for each --text",
        )
    print(f"wenchuang: note: replacing the {count} line(s) of text found, in reading order", file=sys.stderr)
    return boxes


def _lines(args: argparse.Namespace, texts: list[str], polygons: list) -> list[TextLine]:
    fonts = _per_line(args.font, len(texts), "font")
    colors = _per_line(args.color, len(texts), "color")
    return [TextLine(t, polygon=p, font=f, color=c) for t, p, f, c in zip(texts, polygons, fonts, colors)]


def _per_line(values: list[str], n_texts: int, flag: str) -> list[str | None]:
    """--font / --color values for `n_texts` lines: none, one for every line, or one per line in order."""
    if not values:
        return [None] * n_texts
    if len(values) == 1:
        return values * n_texts
    if len(values) != n_texts:
        raise RequestError(
            flag,
            f"give one --{flag} for every line or one per --text in order: got {n_texts} text(s) and "
            f"{len(values)} --{flag} values",
        )
    return list(values)


def _positions(boxes: list[str], n_texts: int, required: bool) -> list:
    """Parse the --position values; one per text, or none at all (automatic layout)."""
    from wenchuang.layout.polygons import parse_position

    if not boxes and not required:
        return [None] * n_texts
    if len(boxes) != n_texts:
        raise RequestError(
            "position", f"give one --position per --text: got {n_texts} text(s) and {len(boxes)} position(s)"
        )
    return [parse_position(box, field_name=f"position[{i}]") for i, box in enumerate(boxes)]


def _run(args: argparse.Namespace, request: DesignRequest) -> int:
    from wenchuang.images import write_result

    name = args.engine or registry.default_engine_name(args.model)
    status = registry.engine_status(name, args.model)
    if not status.ready:
        raise RequestError("engine", f"{name} is not ready: {status.detail} (try --engine classic)")
    options = {"eraser": args.eraser} if name == "classic" and getattr(args, "eraser", None) else {}
    if name != "classic":
        options.update({k: v for k, v in (("dtype", args.dtype), ("lora", args.lora)) if v})
    engine = registry.create_engine(name, model=args.model, cpu_offload=args.cpu_offload, **options)
    result = run_request(engine, request)
    paths = write_result(args.out, result)
    for warning in result.warnings:
        print(f"wenchuang: note: {warning}", file=sys.stderr)
    for index, path in enumerate(paths):
        print(f"{path}  {summary_line(result, index)}")
    removal = result.extra.get("removal") or {}
    if removal and not removal.get("clean", True):  # the warning above names the text still read
        print("wenchuang: text removal incomplete: text is still readable (exit status 3)", file=sys.stderr)
        return 3
    return 0


def summary_line(result: DesignResult, index: int) -> str:
    """``seed 7  classic  OCR 2/2 ok: "文创" ok, "Hi" read "Hl"`` for image `index`."""
    readings = result.readings[index] if index < len(result.readings) else []
    parts = []
    for r in readings:
        label = f'"{r.expected}"' if r.expected else "erased region"
        parts.append(f"{label} ok" if r.passed else f'{label} read "{r.read.strip()}"')
    passed = sum(r.passed for r in readings)
    check = f"OCR {passed}/{len(readings)} ok" + (": " + ", ".join(parts) if parts else "")
    corrected = result.extra.get("self_correct", {}).get("images", [])
    if index < len(corrected):
        check += f"  (self-correct: {corrected[index]['repairs']} repair(s), {corrected[index]['seconds']:.2f} s)"
    return f"seed {result.seeds[index]}  {result.engine}  {check}"
