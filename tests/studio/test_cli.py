"""`wenchuang block add|remove|list` and `wenchuang serve --help`."""

from __future__ import annotations

import time

import pytest

from wenchuang.cli import main
from wenchuang.studio.security import BlockList


def test_block_add_list_remove_persist(data_dir, capsys):
    assert main(["block", "add", "203.0.113.0/24", "--reason", "scanner"]) == 0
    assert main(["block", "add", "198.51.100.7", "--for", "600"]) == 0
    out = capsys.readouterr().out
    assert "blocked 203.0.113.0/24 permanently" in out and "blocked 198.51.100.7/32 until" in out
    bl = BlockList(data_dir / "security" / "blocklist.json")
    assert bl.match("203.0.113.99").reason == "scanner" and bl.match("198.51.100.7").expires is not None
    assert bl.match("203.0.113.99").expires is None
    assert bl.match("198.51.100.7").expires == pytest.approx(time.time() + 600, abs=30)
    assert main(["block", "list"]) == 0
    listing = capsys.readouterr().out
    assert "203.0.113.0/24" in listing and "permanent" in listing and "expires in" in listing
    assert main(["block", "remove", "203.0.113.0/24"]) == 0
    assert main(["block", "remove", "203.0.113.0/24"]) == 1
    assert BlockList(data_dir / "security" / "blocklist.json").match("203.0.113.99") is None


def test_block_add_garbage_is_one_line_error(data_dir, capsys):
    assert main(["block", "add", "not-an-ip"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "wenchuang: error: not an IP address or CIDR range: 'not-an-ip'"


def test_serve_help_mentions_the_defences(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--listen",
        "--auth-token",
        "--trusted-proxy",
        "--allow-host",
        "--ban-threshold",
        "--queue-size",
    ):
        assert flag in out
