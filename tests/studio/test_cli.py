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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--port", "70000"], "wenchuang serve: error: argument --port: must be at least 1 and at most 65535, got '70000'"),
        (["serve", "--port", "-1"], "wenchuang serve: error: argument --port: must be at least 1 and at most 65535, got '-1'"),
        (["serve", "--queue-size", "0"], "wenchuang serve: error: argument --queue-size: must be at least 1, got '0'"),
        (["serve", "--workers", "0"], "wenchuang serve: error: argument --workers: must be at least 1, got '0'"),
        (["serve", "--rate", "0"], "wenchuang serve: error: argument --rate: must be above 0, got '0'"),
        (["serve", "--job-rate", "nan"], "wenchuang serve: error: argument --job-rate: expected a finite number, got 'nan'"),
        (["serve", "--ban-threshold", "-1"], "wenchuang serve: error: argument --ban-threshold: must be at least 0, got '-1'"),
        (["serve", "--ban-window", "x"], "wenchuang serve: error: argument --ban-window: expected a number, got 'x'"),
        (["serve", "--ban-duration", "-5"], "wenchuang serve: error: argument --ban-duration: must be above 0, got '-5'"),
        (["block", "add", "192.0.2.1", "--for", "0"], "wenchuang block add: error: argument --for: must be above 0 and at most 3.1536e+09, got '0'"),
        (["block", "add", "192.0.2.1", "--for", "inf"], "wenchuang block add: error: argument --for: expected a finite number, got 'inf'"),
        (["block", "add", "192.0.2.1", "--for", "1e300"], "wenchuang block add: error: argument --for: must be above 0 and at most 3.1536e+09, got '1e300'"),
    ],
)
def test_bad_numbers_are_refused_before_anything_starts(data_dir, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err == message + "\n"
    assert not (data_dir / "security" / "blocklist.json").exists()


def test_serve_bad_trusted_proxy_and_host_name_the_option(data_dir, capsys, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server must not start"))
    assert main(["serve", "--no-ui", "--trusted-proxy", "10.0.0.0/33"]) == 2
    assert capsys.readouterr().err == "wenchuang: error: --trusted-proxy: not an IP address or CIDR range: '10.0.0.0/33'\n"
    assert main(["serve", "--no-ui", "--host", "999.999.1.1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wenchuang: error: --host: cannot bind '999.999.1.1': ") and err.count("\n") == 1
