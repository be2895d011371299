"""The `wenchuang` command.

Each group of subcommands lives in `wenchuang.commands.<area>` and exposes
`register(subparsers)`; a command's handler gets the parsed args and returns an exit code.
Errors the user caused (`WenchuangError`, and `OSError` from the files and folders they named) print
one line and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from wenchuang import __version__
from wenchuang.errors import WenchuangError

# order = order in --help
COMMAND_MODULES = (
    "wenchuang.commands.design",  # generate, edit
    "wenchuang.commands.studio",  # serve, block
    "wenchuang.commands.anytext",  # convert, download, dev
    "wenchuang.commands.evaluation",  # eval, benchmark
    "wenchuang.commands.training",  # data, train, merge
    "wenchuang.commands.prompts",  # prompt
    "wenchuang.commands.products",  # product
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's own convention too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wenchuang", description="Wenchuang Studio: images with exactly-right text.")
    parser.add_argument("--version", action="version", version=f"wenchuang {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except WenchuangError as exc:
        print(f"wenchuang: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave cannot be read or written: their input, not our bug
        if args.debug:
            raise
        print(f"wenchuang: error: {_one_line(_describe_os_error(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wenchuang: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line unless --debug
        if args.debug:
            raise
        print(
            f"wenchuang: internal error: {type(exc).__name__}: {_one_line(str(exc))} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1


def _one_line(message: str) -> str:
    """Messages that embed a library's error (torch, huggingface_hub) may span lines: join them."""
    return " ".join(message.split())


def _describe_os_error(exc: OSError) -> str:
    """``Not a directory: 'out/x.json'`` from an OSError (``[Errno 20] ...`` without the number)."""
    if exc.strerror and exc.filename is not None:
        text = f"{exc.strerror}: {str(exc.filename)!r}"
        if exc.filename2 is not None:
            text += f" -> {str(exc.filename2)!r}"
        return text
    return f"{type(exc).__name__}: {exc}"


if __name__ == "__main__":
    sys.exit(main())
