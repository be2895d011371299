"""Block list, rate limits, bans, client addresses, Host/Origin rules (no web server needed)."""

from __future__ import annotations

import json
import time

import pytest

from wenchuang.studio.security import (
    BlockList,
    BlockListError,
    RateLimiter,
    SecurityLog,
    ViolationTracker,
    client_address,
    host_allowed,
    origin_allowed,
    parse_network,
)


def test_blocklist_ip_and_cidr_persist_across_instances(tmp_path):
    path = tmp_path / "security" / "blocklist.json"
    bl = BlockList(path)
    bl.add("203.0.113.7", reason="scanner")
    bl.add("198.51.100.0/24")
    bl.add("2001:db8::/32")
    again = BlockList(path)  # a restart
    assert again.match("203.0.113.7").reason == "scanner"
    assert again.match("203.0.113.8") is None
    assert again.match("198.51.100.200").network == "198.51.100.0/24"
    assert again.match("198.51.101.1") is None
    assert again.match("2001:db8:1::5").network == "2001:db8::/32"
    assert again.match("::ffff:198.51.100.3") is not None  # IPv4-mapped IPv6 is the IPv4 address
    assert again.match("::ffff:198.51.100.3").network == "198.51.100.0/24"
    assert again.match("203.0.113.7").expires is None  # no duration: permanent
    assert again.match("not-an-ip") is None
    assert {e.network for e in again.entries()} == {"203.0.113.7/32", "198.51.100.0/24", "2001:db8::/32"}
    assert again.remove("198.51.100.0/24") is True
    assert again.remove("198.51.100.0/24") is False
    assert BlockList(path).match("198.51.100.200") is None
    assert json.loads(path.read_text())["version"] == 1


def test_blocklist_rejects_garbage_and_expires_temporary_entries(tmp_path):
    bl = BlockList(tmp_path / "bl.json")
    with pytest.raises(BlockListError, match="not an IP address"):
        bl.add("../../etc/passwd")
    before = time.time()
    bl.add("192.0.2.1", duration_s=0.05)
    assert bl.match("192.0.2.1") is not None
    assert before + 0.05 <= bl.match("192.0.2.1").expires <= time.time() + 0.05
    time.sleep(0.1)
    assert bl.match("192.0.2.1") is None
    assert bl.purge_expired() == 1
    assert bl.entries(include_expired=True) == []
    # a temporary ban never shortens a permanent one
    bl.add("192.0.2.2", reason="by hand")
    bl.add("192.0.2.2", duration_s=0.05)
    time.sleep(0.1)
    assert BlockList(tmp_path / "bl.json").match("192.0.2.2").reason == "by hand"
    assert bl.match("192.0.2.2").expires is None


def test_blocklist_picks_up_changes_made_by_another_process(tmp_path):
    path = tmp_path / "bl.json"
    server = BlockList(path)
    BlockList(path).add("192.0.2.9")  # e.g. `wenchuang block add` while serving
    server.refresh(min_interval_s=0)
    assert server.match("192.0.2.9") is not None
    assert server.match("192.0.2.9").network == "192.0.2.9/32"


def test_token_bucket_allows_burst_then_asks_to_wait():
    limiter = RateLimiter(per_minute=60, burst=3)  # 1 token per second
    assert [limiter.check("a", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.check("a", now=100.0)
    assert 0.9 < wait <= 1.0
    assert limiter.check("b", now=100.0) == 0.0  # other clients have their own bucket
    assert limiter.check("a", now=101.5) == 0.0  # refilled


def test_violations_ban_after_threshold_within_window(tmp_path):
    bl = BlockList(tmp_path / "bl.json")
    log = SecurityLog(tmp_path / "security.log")
    tracker = ViolationTracker(bl, threshold=3, window_s=10, ban_s=60, log=log)
    assert not tracker.record("192.0.2.5", "rate", now=0)
    assert not tracker.record("192.0.2.5", "rate", now=20)  # the first one left the window
    assert not tracker.record("192.0.2.5", "rate", now=21)
    assert tracker.record("192.0.2.5", "rate", now=22)
    entry = BlockList(tmp_path / "bl.json").match("192.0.2.5")
    assert entry is not None and entry.expires is not None and "automatic" in entry.reason
    assert entry.reason == "automatic: 3 violations (rate)" and entry.network == "192.0.2.5/32"
    assert entry.expires == pytest.approx(time.time() + 60, abs=5)  # banned for ban_s seconds
    assert [r["event"] for r in log.read()] == ["ban"]
    # the count starts again after a ban, and loopback is never banned
    assert not tracker.record("192.0.2.5", "rate", now=23)
    assert not any(tracker.record("127.0.0.1", "rate", now=30 + i) for i in range(5))
    assert BlockList(tmp_path / "bl.json").match("127.0.0.1") is None


def test_forwarded_for_is_ignored_unless_peer_is_a_trusted_proxy():
    proxies = [parse_network("10.0.0.0/8")]
    assert client_address("192.0.2.1", "198.51.100.9", []) == "192.0.2.1"
    assert client_address("192.0.2.1", "198.51.100.9", proxies) == "192.0.2.1"  # peer is not the proxy
    assert client_address("10.0.0.2", "198.51.100.9", proxies) == "198.51.100.9"
    # a client can prepend anything; only the right-most untrusted hop counts
    assert client_address("10.0.0.2", "1.1.1.1, 198.51.100.9, 10.0.0.3", proxies) == "198.51.100.9"
    assert client_address("10.0.0.2", "garbage", proxies) == "10.0.0.2"


def test_host_allow_list_guards_against_dns_rebinding():
    allowed = frozenset({"localhost", "127.0.0.1", "::1"})
    assert host_allowed("127.0.0.1:7860", allowed)
    assert host_allowed("LOCALHOST:7860", allowed)
    assert host_allowed("[::1]:7860", allowed)
    assert not host_allowed("evil.example:7860", allowed)
    assert not host_allowed(None, allowed)
    assert host_allowed("anything", frozenset({"*"}))


def test_origin_rules():
    host = "127.0.0.1:7860"
    assert origin_allowed(None, host)  # curl, scripts
    assert origin_allowed("http://127.0.0.1:7860", host)
    assert not origin_allowed("null", host)
    assert not origin_allowed("http://evil.example", host)
    assert not origin_allowed("http://127.0.0.1:8000", host)  # another local port is another origin
    assert not origin_allowed("file://", host)
    assert origin_allowed("https://studio.example", host, frozenset({"https://studio.example"}))


def test_blocklist_ipv4_mapped_entries_and_wide_ipv6_ranges_cover_ipv4_clients(tmp_path):
    path = tmp_path / "blocklist.json"
    bl = BlockList(path)
    assert str(parse_network("::ffff:10.0.0.1")) == "10.0.0.1/32"
    assert str(parse_network("::ffff:10.0.0.0/120")) == "10.0.0.0/24"
    bl.add("::ffff:10.0.0.1", reason="mapped")
    assert bl.match("10.0.0.1").reason == "mapped"
    assert bl.match("::ffff:10.0.0.1").network == "10.0.0.1/32"
    assert bl.match("10.0.0.2") is None
    assert bl.remove("10.0.0.1") is True  # either spelling names the same entry
    # a file written before the fold (or by hand) still blocks the IPv4 client
    path.write_text(json.dumps({"version": 1, "entries": [{"network": "::ffff:a00:0/120"}]}))
    assert BlockList(path).match("10.0.0.77").network == "10.0.0.0/24"
    path.write_text(json.dumps({"version": 1, "entries": [{"network": "::/0"}]}))
    assert BlockList(path).match("192.0.2.1").network == "::/0"
    assert BlockList(path).match("2001:db8::1").network == "::/0"
    path.write_text(json.dumps({"version": 1, "entries": [{"network": "2001:db8::/32"}]}))
    assert BlockList(path).match("192.0.2.1") is None
