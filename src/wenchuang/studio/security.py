"""The studio's defences: block list, rate limits, temporary bans, client addresses, Origin/Host rules.

Everything here is plain Python (no web framework), so it can be tested directly and reused by the
ASGI middleware in `wenchuang.studio.middleware`.

- `BlockList`: IPs and CIDR ranges, each permanent or with an expiry, kept in a JSON file in the data
  folder (atomic writes, re-read when another process - `wenchuang block add` - changes it).
- `TokenBucket` / `RateLimiter`: per-client token buckets.
- `ViolationTracker`: counts a client's violations in a sliding window; at the threshold it bans the
  client for a while by adding a temporary entry to the block list (so the ban survives restarts).
- `client_address`: the peer address; X-Forwarded-For is believed only from a trusted proxy.
- `host_allowed` / `origin_allowed`: the DNS-rebinding guard and the cross-site request guard.
- `SecurityLog`: one JSON object per line, for every refusal and ban.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wenchuang.errors import WenchuangError
from wenchuang.images import write_bytes_atomic

logger = logging.getLogger("wenchuang.security")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOCAL_HOST_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class BlockListError(WenchuangError):
    """A block-list entry is not an IP address or CIDR range."""


def parse_network(text: str) -> IPNetwork:
    """``"203.0.113.7"`` or ``"203.0.113.0/24"`` (IPv4 or IPv6) -> network; BlockListError otherwise."""
    value = str(text).strip()
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise BlockListError(f"not an IP address or CIDR range: {value!r}") from None
    mapped = net.network_address.ipv4_mapped if net.version == 6 else None
    if mapped is not None and net.prefixlen >= 96:
        # "::ffff:10.0.0.1" is the IPv4 client 10.0.0.1, which is how clients are matched (parse_ip)
        net = ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}")
    return net


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(str(text).strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@dataclass
class BlockEntry:
    network: str  # canonical CIDR text
    reason: str = ""
    added: float = 0.0
    expires: float | None = None  # unix time; None = permanent

    def active(self, now: float) -> bool:
        return self.expires is None or self.expires > now

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "reason": self.reason, "added": self.added, "expires": self.expires}


class BlockList:
    """Persistent list of blocked IPs and CIDR ranges (``security/blocklist.json`` in the data folder)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._entries: dict[str, BlockEntry] = {}
        self._nets: list[tuple[IPNetwork, BlockEntry]] = []
        self._mtime: float | None = None
        self._checked = 0.0
        self._load()

    # -- file ----------------------------------------------------------------------------------
    def _load(self) -> None:
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._entries, self._nets, self._mtime = {}, [], None
                return
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                raw = data.get("entries", []) if isinstance(data, dict) else []
            except (OSError, ValueError) as exc:
                logger.error("block list %s is unreadable (%s); keeping the previous entries", self.path, exc)
                return
            entries: dict[str, BlockEntry] = {}
            for item in raw:
                try:
                    net = parse_network(item["network"])
                except (BlockListError, KeyError, TypeError):
                    continue
                entry = BlockEntry(
                    str(net),
                    str(item.get("reason", "")),
                    float(item.get("added") or 0.0),
                    None if item.get("expires") is None else float(item["expires"]),
                )
                entries[entry.network] = entry
            self._entries = entries
            self._nets = [(ipaddress.ip_network(k), v) for k, v in entries.items()]
            self._mtime = stat.st_mtime_ns

    def _save(self) -> None:
        data = {"version": 1, "entries": [e.to_dict() for e in self._entries.values()]}
        write_bytes_atomic(self.path, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        self._mtime = self.path.stat().st_mtime_ns
        self._nets = [(ipaddress.ip_network(k), v) for k, v in self._entries.items()]

    def refresh(self, min_interval_s: float = 1.0) -> None:
        """Re-read the file when another process changed it (checked at most once per interval)."""
        now = time.monotonic()
        if now - self._checked < min_interval_s:
            return
        self._checked = now
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime != self._mtime:
            self._load()

    # -- queries and changes -------------------------------------------------------------------
    def add(self, network: str, reason: str = "", duration_s: float | None = None) -> BlockEntry:
        net = parse_network(network)
        now = time.time()
        entry = BlockEntry(str(net), reason, now, None if duration_s is None else now + float(duration_s))
        with self._lock:
            self._load()
            old = self._entries.get(entry.network)
            if old is not None and old.expires is None and entry.expires is not None:
                return old  # a permanent entry stays permanent
            self._entries[entry.network] = entry
            self._save()
        return entry

    def remove(self, network: str) -> bool:
        key = str(parse_network(network))
        with self._lock:
            self._load()
            if key not in self._entries:
                return False
            del self._entries[key]
            self._save()
        return True

    def entries(self, include_expired: bool = False) -> list[BlockEntry]:
        now = time.time()
        with self._lock:
            return [e for e in self._entries.values() if include_expired or e.active(now)]

    def purge_expired(self) -> int:
        now = time.time()
        with self._lock:
            self._load()
            dead = [k for k, e in self._entries.items() if not e.active(now)]
            for k in dead:
                del self._entries[k]
            if dead:
                self._save()
        return len(dead)

    def match(self, ip: str) -> BlockEntry | None:
        """The active entry that covers `ip`, or None."""
        addr = parse_ip(ip)
        if addr is None:
            return None
        forms = {addr.version: addr}
        if addr.version == 4:  # a wide IPv6 range (::/0, ::ffff:0:0/95) covers IPv4 clients too
            forms[6] = ipaddress.IPv6Address(f"::ffff:{addr}")
        now = time.time()
        for net, entry in self._nets:
            form = forms.get(net.version)
            if form is not None and form in net and entry.active(now):
                return entry
        return None


class TokenBucket:
    """`capacity` tokens, refilled at `rate` tokens per second."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, now: float):
        self.capacity, self.rate = float(capacity), float(rate)
        self.tokens, self.updated = float(capacity), now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take `cost` tokens; return 0 on success, else the seconds until they would be there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate if self.rate > 0 else float("inf")


class RateLimiter:
    """One token bucket per client key; idle buckets are forgotten."""

    def __init__(self, per_minute: float, burst: int, max_clients: int = 100_000):
        self.rate = max(float(per_minute), 1e-9) / 60.0
        self.burst = max(int(burst), 1)
        self.max_clients = max_clients
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str, now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait (for Retry-After)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_clients:
                    self._forget_idle(now)
                bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
            return bucket.take(now)

    def _forget_idle(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.updated > full_after]:
            del self._buckets[key]


class ViolationTracker:
    """Counts violations per client; `threshold` within `window_s` -> a ban of `ban_s` seconds."""

    def __init__(
        self,
        blocklist: BlockList,
        threshold: int,
        window_s: float,
        ban_s: float,
        log: SecurityLog | None = None,
        ban_loopback: bool = False,
    ):
        self.blocklist, self.threshold, self.window_s, self.ban_s = blocklist, threshold, window_s, ban_s
        self.log = log
        self.ban_loopback = ban_loopback  # the user's own browser is on loopback: never lock it out
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def record(self, client: str, kind: str, now: float | None = None) -> bool:
        """Note one violation; return True when it got the client banned."""
        addr = parse_ip(client)
        if self.threshold <= 0 or addr is None or (addr.is_loopback and not self.ban_loopback):
            return False
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._events.setdefault(client, deque())
            q.append(now)
            while q and now - q[0] > self.window_s:
                q.popleft()
            if len(q) < self.threshold:
                return False
            del self._events[client]
        self.blocklist.add(
            str(addr), reason=f"automatic: {self.threshold} violations ({kind})", duration_s=self.ban_s
        )
        if self.log:
            self.log.write("ban", client, detail=f"{kind}; banned for {self.ban_s:g} s")
        return True


def _in_networks(ip: str, networks: list[IPNetwork]) -> bool:
    addr = parse_ip(ip)
    return addr is not None and any(addr.version == n.version and addr in n for n in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: list[IPNetwork]) -> str:
    """The client's IP: the peer, unless the peer is a trusted proxy; then the right-most
    X-Forwarded-For address that is not itself a trusted proxy. Without trusted proxies the header
    is ignored entirely (anyone can write it)."""
    peer = peer or "unknown"
    if not forwarded_for or not trusted_proxies or not _in_networks(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if parse_ip(hop) is None:
            return peer  # a malformed hop: do not guess
        if not _in_networks(hop, trusted_proxies):
            return str(parse_ip(hop))
    return peer


def split_host(value: str) -> str:
    """``"Example.com:7860"`` -> ``"example.com"``; ``"[::1]:7860"`` -> ``"::1"``."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def local_host_names(listen: bool, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Host names the server answers to: loopback names, `extra`, and with --listen this machine's
    own names and addresses."""
    names = set(LOCAL_HOST_NAMES) | {split_host(h) for h in extra if h}
    if listen:
        try:
            hostname = socket.gethostname()
            names.update({hostname.lower(), socket.getfqdn().lower()})
            names.update(info[4][0] for info in socket.getaddrinfo(hostname, None))
        except OSError:
            pass
        for probe, family in (("192.0.2.1", socket.AF_INET), ("2001:db8::1", socket.AF_INET6)):
            try:  # the address of the default route's interface (UDP connect sends nothing)
                with socket.socket(family, socket.SOCK_DGRAM) as s:
                    s.connect((probe, 9))
                    names.add(s.getsockname()[0])
            except OSError:
                pass
    return frozenset(names)


def host_allowed(host_header: str | None, allowed: frozenset[str]) -> bool:
    """DNS-rebinding guard: the Host header must name this server ("*" in `allowed` accepts any)."""
    if "*" in allowed:
        return True
    if not host_header:
        return False
    return split_host(host_header) in allowed


def origin_allowed(
    origin: str | None, host_header: str | None, extra_origins: frozenset[str] = frozenset()
) -> bool:
    """Cross-site request guard for state-changing requests.

    No Origin header (curl, scripts): allowed. ``Origin: null`` (sandboxed frames, file:// pages,
    some redirects): refused. Otherwise the origin must be this very server - the same host:port as
    the Host header, which the DNS-rebinding guard has already checked - or one of `extra_origins`
    (``scheme://host:port``). Another port on localhost is another origin and is refused.
    """
    if origin is None:
        return True
    origin = origin.strip().lower()
    if not origin or origin == "null":
        return False
    if origin.rstrip("/") in extra_origins:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return bool(host_header) and parts.netloc == host_header.strip().lower()


class SecurityLog:
    """Structured security log: one JSON object per line (time, event, client, path, detail)."""

    def __init__(self, path: str | Path | None, max_bytes: int = 5 * 1024 * 1024):
        self.path = Path(path) if path else None
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def write(self, event: str, client: str, path: str = "", detail: str = "", **fields: Any) -> None:
        record = {
            "time": round(time.time(), 3),
            "event": event,
            "client": client,
            "path": path[:300],
            "detail": detail[:500],
            **fields,
        }
        logger.warning("%s client=%s path=%s %s", event, client, path[:300], detail[:500])
        if self.path is None:
            return
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.path.exists() and self.path.stat().st_size > self.max_bytes:
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError as exc:  # logging must never break serving
                logger.error("cannot write the security log %s: %s", self.path, exc)

    def read(self, limit: int = 200) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()[-limit:]
        return [json.loads(x) for x in lines if x.strip()]
