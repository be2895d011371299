"""wenchuang.cli.main: user errors (WenchuangError, OSError on the user's paths) are one line, exit 2."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from wenchuang import cli
from wenchuang.cli import main
from wenchuang.errors import ModelError


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def annotations(tmp_path):
    path = tmp_path / "bench.json"
    entry = {"img_name": "a.jpg", "caption": "a *", "annotations": [{"text": "文", "valid": True,
             "polygon": [[10, 10], [60, 10], [60, 60], [10, 60]], "language": "Chinese"}]}
    path.write_text(json.dumps({"data_root": str(tmp_path / "originals"), "data_list": [entry]}), encoding="utf-8")
    (tmp_path / "originals").mkdir()
    Image.new("RGB", (64, 64), "white").save(tmp_path / "originals" / "a.jpg")
    return path


def test_report_path_that_is_a_folder_is_refused_before_scoring(tmp_path, capsys, annotations):
    folder = tmp_path / "taken"
    folder.mkdir()
    code, out, err = run(capsys, "eval", "ocr", "--annotations", str(annotations), "--report", str(folder))
    assert code == 2 and out == ""  # nothing scored: no summary, no progress bar
    assert err == f"wenchuang: error: --report: {folder} is a folder; give a file name\n"
    assert list(folder.iterdir()) == [] and [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_report_path_under_a_file_is_refused_before_scoring(tmp_path, capsys, annotations):
    blocker = tmp_path / "afile"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "sub" / "r.json"
    code, out, err = run(capsys, "eval", "ocr", "--annotations", str(annotations), "--report", str(target))
    assert code == 2 and out == ""
    assert err == f"wenchuang: error: --report: cannot create {target}: {blocker} is a file, not a folder\n"
    assert blocker.read_text(encoding="utf-8") == "x"


def test_output_file_check_allows_missing_folders_and_names_the_option(tmp_path):
    from wenchuang.commands import check_output_file
    from wenchuang.errors import RequestError

    assert check_output_file(tmp_path / "new" / "deeper" / "r.json", "--stats") == tmp_path / "new" / "deeper" / "r.json"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(RequestError, match=r"^--stats: .* is a folder; give a file name$"):
        check_output_file(tmp_path, "--stats")


def test_os_error_from_a_command_is_one_line_exit_2(monkeypatch, capsys):
    def handler(args):
        raise IsADirectoryError(21, "Is a directory", "out/x.json")

    monkeypatch.setattr("wenchuang.commands.design.cmd_generate", handler)
    code, out, err = run(capsys, "generate", "--text", "hi", "--out", "unused")
    assert code == 2 and err == "wenchuang: error: Is a directory: 'out/x.json'\n"


def test_multi_line_error_message_is_printed_on_one_line(monkeypatch, capsys):
    def handler(args):
        raise ModelError("cannot read checkpoint x.ckpt: UnpicklingError: Weights only load failed.\n\nUnsupported")

    monkeypatch.setattr("wenchuang.commands.design.cmd_generate", handler)
    code, out, err = run(capsys, "generate", "--text", "hi", "--out", "unused")
    assert code == 2
    assert err == "wenchuang: error: cannot read checkpoint x.ckpt: UnpicklingError: Weights only load failed. Unsupported\n"


def test_os_error_with_debug_still_raises(monkeypatch):
    def handler(args):
        raise NotADirectoryError(20, "Not a directory", "out/x.json")

    monkeypatch.setattr("wenchuang.commands.design.cmd_generate", handler)
    with pytest.raises(NotADirectoryError):
        main(["--debug", "generate", "--text", "hi", "--out", "unused"])


def test_describe_os_error_names_both_paths():
    exc = IsADirectoryError(21, "Is a directory", "out.part", None, "out")
    assert cli._describe_os_error(exc) == "Is a directory: 'out.part' -> 'out'"
    assert cli._describe_os_error(OSError("disk on fire")) == "OSError: disk on fire"


def test_eval_ocr_with_no_matching_image_is_an_error_not_a_zero_score(tmp_path, capsys, annotations):
    empty = tmp_path / "generated"
    empty.mkdir()
    (empty / "other_0.png").write_bytes(b"")
    report = tmp_path / "r.json"
    code, out, err = run(capsys, "eval", "ocr", "--annotations", str(annotations), "--images", str(empty),
                         "--report", str(report))
    assert code == 2 and out == ""
    assert err == (f"wenchuang: error: --images: no image for any of the 1 entries: nothing named a_0.png/.jpg, "
                   f"a_1, ... or a.jpg in {empty}\n")
    assert not report.exists()
    (tmp_path / "originals" / "a.jpg").unlink()
    code, out, err = run(capsys, "eval", "ocr", "--annotations", str(annotations), "--report", str(report))
    assert code == 2 and f"no original image in {tmp_path / 'originals'} (e.g. a.jpg)" in err
    assert not report.exists()


def test_eval_fid_report_path_is_checked_before_features_are_computed(tmp_path, capsys):
    for name in ("real", "gen"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (16, 16), "white").save(tmp_path / name / "0.png")
    code, out, err = run(capsys, "eval", "fid", "--real", str(tmp_path / "real"), "--generated", str(tmp_path / "gen"),
                         "--report", str(tmp_path))
    assert code == 2 and out == ""
    assert err == f"wenchuang: error: --report: {tmp_path} is a folder; give a file name\n"


def test_every_command_group_is_registered():
    parser = cli.build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    assert {"generate", "edit", "serve", "convert", "eval", "benchmark", "data", "train", "merge", "prompt"} <= commands


def test_a_command_module_that_cannot_be_imported_is_an_error_not_a_missing_command(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "wenchuang.commands.no_such_area"))
    with pytest.raises(ModuleNotFoundError, match="wenchuang.commands.no_such_area"):
        cli.build_parser()
