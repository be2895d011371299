"""`wenchuang serve` (the studio: web UI + HTTP API) and `wenchuang block add|remove|list`."""

from __future__ import annotations

import argparse
import logging
import math
import secrets
import socket
import sys
import time

from wenchuang.anytext.precision import DTYPE_CHOICES
from wenchuang.errors import RequestError
from wenchuang.studio.config import DEFAULT_PORT, StudioConfig, data_home


def _number(kind: type, minimum: float, maximum: float = math.inf, exclusive: bool = False):
    """An argparse `type`: a finite `kind` (int or float) >= minimum (> with `exclusive`) and <= maximum,
    so a bad value is argparse's one-line error naming the option, before anything starts."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        too_low = value <= minimum if exclusive else value < minimum
        if too_low or value > maximum:
            low = f"above {minimum:g}" if exclusive else f"at least {minimum:g}"
            high = "" if maximum == math.inf else f" and at most {maximum:g}"
            raise argparse.ArgumentTypeError(f"must be {low}{high}, got {text!r}")
        return value

    return parse


_PORT = _number(int, 1, 65535)
_COUNT = _number(int, 1)
_POSITIVE = _number(float, 0, exclusive=True)
_MAX_BAN_S = 100 * 365 * 86400  # a ban's end must still be a date


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="start the studio (web UI + HTTP API) on http://127.0.0.1:7860",
        description="Start Wenchuang Studio: the web UI at / and the HTTP API at /api (docs at /docs). "
        "Binds 127.0.0.1 only, unless --listen.",
    )
    serve.add_argument("--port", type=_PORT, default=DEFAULT_PORT, help="port (default %(default)s)")
    serve.add_argument(
        "--host", default=None, help="address to bind (default 127.0.0.1; 0.0.0.0 with --listen)"
    )
    serve.add_argument(
        "--listen",
        action="store_true",
        help="accept connections from other machines (bind 0.0.0.0); use with --auth-token",
    )
    serve.add_argument(
        "--auth-token",
        default=None,
        metavar="TOKEN",
        help="require this token (Authorization: Bearer TOKEN, or open /?token=TOKEN once); "
        "'random' makes one and prints it",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another Host name this server answers to (repeatable; DNS-rebinding guard)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="IP_OR_CIDR",
        help="believe X-Forwarded-For only from this reverse proxy (repeatable)",
    )
    serve.add_argument(
        "--engine",
        choices=["classic", "anytext", "anytext2"],
        default=None,
        help="default engine (default: the best one whose weights are ready: anytext2, anytext, classic); "
        "weights outside their default folder: set WENCHUANG_ANYTEXT_MODEL / WENCHUANG_ANYTEXT2_MODEL",
    )
    serve.add_argument(
        "--queue-size", type=_COUNT, default=8, help="waiting jobs before 429 (default %(default)s)"
    )
    serve.add_argument("--workers", type=_COUNT, default=1, help="jobs run at once (default %(default)s)")
    serve.add_argument(
        "--rate",
        type=_POSITIVE,
        default=StudioConfig.rate_per_minute,
        help="requests per minute per client (default %(default)s)",
    )
    serve.add_argument(
        "--job-rate",
        type=_POSITIVE,
        default=StudioConfig.jobs_per_minute,
        help="generate/edit jobs per minute per client (default %(default)s)",
    )
    serve.add_argument(
        "--ban-threshold",
        type=_number(int, 0),
        default=StudioConfig.ban_threshold,
        help="violations within --ban-window seconds that ban a client; 0 = never ban (default %(default)s)",
    )
    serve.add_argument(
        "--ban-window",
        type=_POSITIVE,
        default=StudioConfig.ban_window_s,
        help="seconds in which --ban-threshold violations ban a client (default %(default)s)",
    )
    serve.add_argument(
        "--ban-duration",
        type=_POSITIVE,
        default=StudioConfig.ban_duration_s,
        help="seconds a ban lasts (default %(default)s)",
    )
    serve.add_argument(
        "--cpu-offload",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="AnyText on a GPU: keep only the running part on the GPU (less memory, slower); "
        "default: on for GPUs under 7 GiB",
    )
    serve.add_argument(
        "--dtype", choices=DTYPE_CHOICES, default=None,
        help="number format of the model engines (default auto: float16 on a GPU, bfloat16 on a CPU with "
        "native bf16, else float32)",
    )
    serve.add_argument("--no-ui", action="store_true", help="serve the HTTP API only")
    serve.set_defaults(handler=_serve)

    block = subparsers.add_parser(
        "block",
        help="manage the block list (IPs and CIDR ranges refused by `serve`)",
        description=f"The block list lives in the data folder ({data_home()}/security/blocklist.json) "
        "and survives restarts; a running server picks up changes within a second.",
    )
    block_sub = block.add_subparsers(dest="block_command", metavar="ACTION")
    add = block_sub.add_parser("add", help="block an IP address or CIDR range")
    add.add_argument("network", help="e.g. 203.0.113.7 or 203.0.113.0/24 or 2001:db8::/32")
    add.add_argument("--reason", default="manual", help="note kept with the entry")
    add.add_argument(
        "--for",
        dest="duration",
        type=_number(float, 0, _MAX_BAN_S, exclusive=True),
        default=None,
        metavar="SECONDS",
        help="block only for this long (default: until removed)",
    )
    add.set_defaults(handler=_block_add)
    remove = block_sub.add_parser("remove", help="unblock an IP address or CIDR range")
    remove.add_argument("network")
    remove.set_defaults(handler=_block_remove)
    listing = block_sub.add_parser("list", help="show the block list")
    listing.add_argument("--all", action="store_true", help="include expired temporary bans")
    listing.set_defaults(handler=_block_list)
    block.set_defaults(handler=lambda args: (block.print_help(), 2)[1])


def _blocklist():
    from wenchuang.studio.security import BlockList

    return BlockList(StudioConfig().blocklist_path)


def _block_add(args: argparse.Namespace) -> int:
    entry = _blocklist().add(args.network, reason=args.reason, duration_s=args.duration)
    until = (
        "permanently"
        if entry.expires is None
        else time.strftime("until %Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.expires))
    )
    print(f"blocked {entry.network} {until}")
    return 0


def _block_remove(args: argparse.Namespace) -> int:
    from wenchuang.studio.security import parse_network

    if _blocklist().remove(args.network):
        print(f"unblocked {parse_network(args.network)}")
        return 0
    print(f"{parse_network(args.network)} was not on the block list", file=sys.stderr)
    return 1


def _block_list(args: argparse.Namespace) -> int:
    bl = _blocklist()
    entries = bl.entries(include_expired=args.all)
    if not entries:
        print(f"the block list is empty ({bl.path})")
        return 0
    now = time.time()
    for e in entries:
        if e.expires is None:
            until = "permanent"
        elif e.expires > now:
            until = f"expires in {int(e.expires - now)} s"
        else:
            until = "expired"
        print(f"{e.network:<43} {until:<22} {e.reason}")
    return 0


def _guard_pillow(max_pixels: int) -> None:
    """In the server process, every image Pillow opens (the UI's uploads go through Gradio's own
    decoding) is refused above the studio's pixel limit, instead of Pillow's far larger default."""
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from wenchuang.studio.api import create_app
    from wenchuang.studio.security import BlockListError, parse_network

    for p in args.trusted_proxy:
        try:
            parse_network(p)  # a typo is a one-line error, not a traceback
        except BlockListError as exc:
            raise RequestError("--trusted-proxy", str(exc)) from None
    token = args.auth_token
    if token == "random":
        token = secrets.token_urlsafe(24)
    config = StudioConfig(
        port=args.port,
        listen=args.listen,
        auth_token=token,
        allowed_hosts=tuple(args.allow_host),
        trusted_proxies=tuple(args.trusted_proxy),
        default_engine=args.engine,
        queue_size=args.queue_size,
        workers=args.workers,
        rate_per_minute=args.rate,
        jobs_per_minute=args.job_rate,
        ban_threshold=args.ban_threshold,
        ban_window_s=args.ban_window,
        ban_duration_s=args.ban_duration,
        ui=not args.no_ui,
        cpu_offload=args.cpu_offload,
        dtype=args.dtype,
    )
    if args.host:
        config.host = args.host
    try:  # uvicorn would log a bad address over several lines and exit 3
        socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RequestError("--host", f"cannot bind {config.host!r}: {exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    local = config.host in ("127.0.0.1", "localhost", "::1")
    if not local:
        bar = "!" * 78
        print(
            f"{bar}\n  WARNING: the studio listens on {config.host}:{config.port} - reachable from other "
            f"machines.\n  Anyone who can reach it can use your computer's GPU and disk.",
            file=sys.stderr,
        )
        if not token:
            print(
                "  No --auth-token given: strongly recommended (e.g. --auth-token random).", file=sys.stderr
            )
        print(bar, file=sys.stderr)
    _guard_pillow(config.max_upload_pixels)
    app = create_app(config)
    shown = "127.0.0.1" if local or config.host == "0.0.0.0" else config.host
    url = f"http://{shown}:{config.port}/" + (f"?token={token}" if token else "")
    print(
        f"Wenchuang Studio: {url}  (API docs: http://{shown}:{config.port}/docs; data: {config.data_dir})",
        flush=True,
    )
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        forwarded_allow_ips="",
    )
    return 0
