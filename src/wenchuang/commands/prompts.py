"""`wenchuang prompt parse|translate|glossary|download`: Chinese prompts from the command line."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    prompt = subparsers.add_parser(
        "prompt", help="split a prompt into scene and text lines, translate it zh->en, show the glossary"
    )
    sub = prompt.add_subparsers(dest="prompt_command", metavar="ACTION")
    prompt.set_defaults(handler=lambda args: _help(prompt))

    parse = sub.add_parser("parse", help="show the text lines, the scene and the prompt with placeholders")
    _add_prompt_args(parse)
    parse.set_defaults(handler=_parse)

    translate = sub.add_parser(
        "translate", help="parse, then translate the scene to English (quoted lines stay as they are)"
    )
    _add_prompt_args(translate)
    translate.add_argument(
        "--model",
        help="MarianMT folder or hub id (default: $WENCHUANG_TRANSLATOR or Helsinki-NLP/opus-mt-zh-en)",
    )
    translate.add_argument("--glossary-only", action="store_true", help="do not use a translation model")
    translate.set_defaults(handler=_translate)

    glossary = sub.add_parser("glossary", help="list glossary entries (built-in + your glossary.toml)")
    glossary.add_argument("search", nargs="?", help="only entries whose Chinese or English contains this")
    glossary.add_argument("--category", help="only this category (sites, artefacts, motifs, ...)")
    glossary.add_argument("--path", action="store_true", help="print the user glossary file's path and exit")
    glossary.set_defaults(handler=_glossary)

    download = sub.add_parser("download", help="download the translation model into the Hugging Face cache")
    download.add_argument("--model", help="hub id (default: Helsinki-NLP/opus-mt-zh-en)")
    download.set_defaults(handler=_download)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _add_prompt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help='the prompt; quoted texts ("…", “…”, 「…」, 『…』, ‘…’) are the lines')
    p.add_argument(
        "--text", action="append", metavar="LINE", help="a text line (repeatable); replaces the quoted texts"
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def _parsed_dict(parsed) -> dict:
    return {
        "scene": parsed.scene,
        "lines": parsed.lines,
        "prompt_with_placeholders": parsed.prompt_with_placeholders,
        "notes": parsed.notes,
    }


def _parse(args) -> int:
    from wenchuang.prompts import parse_prompt

    parsed = parse_prompt(args.prompt, args.text)
    if args.json:
        print(json.dumps(_parsed_dict(parsed), ensure_ascii=False, indent=2))
        return 0
    print(f"scene:  {parsed.scene}")
    print(f"prompt: {parsed.prompt_with_placeholders}")
    for i, line in enumerate(parsed.lines, 1):
        print(f"line {i}: {line}")
    for note in parsed.notes:
        print(f"note:   {note}")
    return 0


def _translate(args) -> int:
    from wenchuang.prompts import prompt_for_model

    parsed, translation = prompt_for_model(
        args.prompt, args.text, model=args.model, use_model=not args.glossary_only
    )
    if args.json:
        data = _parsed_dict(parsed)
        data["translation"] = translation.to_dict()
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    print(f"source:  {translation.source}")
    print(f"english: {translation.text}")
    print(f"model:   {translation.model or 'none (glossary only)'}")
    for i, line in enumerate(parsed.lines, 1):
        print(f"line {i}:  {line}")
    for zh, en in translation.terms:
        print(f"term:    {zh} -> {en}")
    for note in parsed.notes + translation.notes:
        print(f"note:    {note}", file=sys.stderr)
    return 0


def _glossary(args) -> int:
    from wenchuang.prompts.glossary import load_glossary, user_glossary_path

    path = user_glossary_path()
    if args.path:
        print(path)
        return 0
    glossary = load_glossary()
    shown = 0
    for entry in sorted(glossary.entries.values(), key=lambda e: (e.category, e.zh)):
        if args.category and entry.category != args.category:
            continue
        if args.search and args.search.lower() not in (entry.zh + " " + entry.en).lower():
            continue
        origin = "" if entry.source == "builtin" else "  (yours)"
        print(f"{entry.category:<10} {entry.zh}\t{entry.en}{origin}")
        shown += 1
    exists = "" if path.exists() else " (not created yet)"
    print(f"{shown} of {len(glossary)} entries; your additions: {path}{exists}", file=sys.stderr)
    return 0


def _download(args) -> int:
    from wenchuang.prompts.translate import download_translator

    path = download_translator(args.model)
    print(f"downloaded to {path}")
    return 0
