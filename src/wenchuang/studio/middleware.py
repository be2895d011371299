"""ASGI middleware in front of everything (API and Gradio UI): the checks of `security`, in order

1. block list (IPs and CIDR ranges, including temporary bans)  -> 403
2. Host allow-list (DNS-rebinding guard)                        -> 421
3. per-client token bucket                                      -> 429 + Retry-After
4. session token, when the server has one                       -> 401
5. Origin / Sec-Fetch-Site on state-changing requests            -> 403
6. declared body size                                           -> 413

Steps 2-5 count as violations; enough of them within the window bans the client (see
`ViolationTracker`). Every refusal goes to the structured security log.
"""

from __future__ import annotations

import hmac
import json
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from wenchuang.studio.security import client_address, host_allowed, origin_allowed

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "wenchuang_token"
EXEMPT_PATHS = frozenset({"/healthz"})
# the UI's static files (a page load fetches a hundred of them) do not count against the rate limit
STATIC_SUFFIXES = (".js", ".css", ".woff", ".woff2", ".ttf", ".svg", ".png", ".ico", ".map", ".json", ".webp")


def is_static(method: str, path: str) -> bool:
    if method not in ("GET", "HEAD"):
        return False
    if path.startswith("/api/"):
        return False
    return "/assets/" in path or "/static/" in path or path.endswith(STATIC_SUFFIXES)


def _headers(scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers", []):
        key = k.decode("latin-1").lower()
        val = v.decode("latin-1")
        out[key] = f"{out[key]},{val}" if key in out else val
    return out


class SecurityMiddleware:
    def __init__(self, app, studio):
        self.app = app
        self.studio = studio
        self._last_blocked_log: dict[str, float] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        studio, cfg = self.studio, self.studio.config
        headers = _headers(scope)
        peer = (scope.get("client") or ("unknown", 0))[0]
        client = client_address(peer, headers.get("x-forwarded-for"), studio.trusted_proxies)
        scope.setdefault("state", {})["wenchuang_client"] = client
        path = scope.get("path", "")
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"

        studio.blocklist.refresh()
        entry = studio.blocklist.match(client)
        if entry is not None:
            self._log_blocked(client, path, entry.reason)
            return await self._refuse(scope, receive, send, 403, "your address is blocked by this server")

        if not host_allowed(headers.get("host"), studio.allowed_hosts):
            return await self._violation(
                scope,
                receive,
                send,
                client,
                path,
                "host",
                f"Host {headers.get('host')!r} is not this server",
                421,
            )

        if path not in EXEMPT_PATHS and not is_static(method, path):
            wait = studio.limiter.check(client)
            if wait > 0:
                return await self._violation(
                    scope,
                    receive,
                    send,
                    client,
                    path,
                    "rate",
                    "too many requests; slow down",
                    429,
                    retry_after=wait,
                )

        token_ok, header_token, set_cookie = self._token(scope, headers)
        if cfg.auth_token and path not in EXEMPT_PATHS and not token_ok:
            return await self._violation(
                scope, receive, send, client, path, "token", "this server needs its access token", 401
            )

        if method not in SAFE_METHODS and not header_token:
            origin = headers.get("origin")
            cross = headers.get("sec-fetch-site", "").lower() == "cross-site"
            if cross or not origin_allowed(origin, headers.get("host")):
                return await self._violation(
                    scope,
                    receive,
                    send,
                    client,
                    path,
                    "origin",
                    f"cross-site request refused (Origin {origin!r})",
                    403,
                )

        if scope["type"] == "http":
            length = headers.get("content-length")
            if length is not None and (not length.strip().isdigit() or int(length) > cfg.max_body_bytes):
                studio.log.write("too_large", client, path, f"Content-Length {length[:20]}")
                return await self._refuse(
                    scope, receive, send, 413, f"request body larger than {cfg.max_body_bytes} bytes"
                )
            receive = self._limited_receive(receive, cfg.max_body_bytes)
            send = self._with_headers(send, cfg.auth_token if set_cookie else None, "/file=" in path)
        return await self.app(scope, receive, send)

    # -- helpers -------------------------------------------------------------------------------
    def _token(self, scope, headers) -> tuple[bool, bool, bool]:
        """(token valid, given in a header, should be set as a cookie)."""
        expected = self.studio.config.auth_token
        if not expected:
            return True, False, False
        auth = headers.get("authorization", "")
        given = (
            auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-wenchuang-token", "")
        )
        if given:
            return hmac.compare_digest(given.encode(), expected.encode()), True, False
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is simply no token
            cookie = SimpleCookie()
        if TOKEN_COOKIE in cookie and hmac.compare_digest(
            cookie[TOKEN_COOKIE].value.encode(), expected.encode()
        ):
            return True, False, False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        q = (query.get("token") or [""])[0]
        if q and scope.get("method") == "GET" and hmac.compare_digest(q.encode(), expected.encode()):
            return True, False, True  # the first visit: remember it in a SameSite=Strict cookie
        return False, False, False

    @staticmethod
    def _with_headers(send, cookie_token: str | None, served_file: bool):
        """Security headers on every answer; the token cookie on the first visit; and files served by
        Gradio's file route that are not images are sent as sandboxed downloads, never rendered in this
        origin (an uploaded HTML file would otherwise run as a page of the studio)."""

        async def wrapped(message):
            if message["type"] == "http.response.start":
                message = dict(message)
                headers = [(k, v) for k, v in message.get("headers", [])]
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"SAMEORIGIN"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if served_file:
                    ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"").lower()
                    if not ctype.startswith(b"image/") or b"svg" in ctype:
                        headers = [
                            (k, v)
                            for k, v in headers
                            if k.lower() not in (b"content-type", b"content-disposition")
                        ]
                        extra += [
                            (b"content-type", b"application/octet-stream"),
                            (b"content-disposition", b"attachment"),
                        ]
                    extra.append((b"content-security-policy", b"sandbox"))
                if cookie_token:
                    value = f"{TOKEN_COOKIE}={cookie_token}; Path=/; HttpOnly; SameSite=Strict"
                    extra.append((b"set-cookie", value.encode()))
                message["headers"] = headers + extra
            await send(message)

        return wrapped

    @staticmethod
    def _limited_receive(receive, limit: int):
        seen = 0

        async def wrapped():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a body larger than declared / chunked: stop reading it
                    return {"type": "http.disconnect"}
            return message

        return wrapped

    def _log_blocked(self, client: str, path: str, reason: str) -> None:
        now = time.monotonic()
        if now - self._last_blocked_log.get(client, -1e9) > 60:  # once a minute per client
            if len(self._last_blocked_log) > 10_000:
                self._last_blocked_log.clear()
            self._last_blocked_log[client] = now
            self.studio.log.write("blocked", client, path, reason)

    async def _violation(self, scope, receive, send, client, path, kind, message, status, retry_after=None):
        self.studio.log.write(f"refused_{kind}", client, path, message)
        self.studio.violations.record(client, kind)
        return await self._refuse(scope, receive, send, status, message, retry_after)

    @staticmethod
    async def _refuse(scope, receive, send, status: int, message: str, retry_after: float | None = None):
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if retry_after is not None:
            headers.append((b"retry-after", str(max(1, int(retry_after + 0.999))).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
