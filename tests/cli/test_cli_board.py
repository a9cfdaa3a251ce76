"""The board commands as a user meets them without a board: clean errors that say what to do."""

import json
import stat

from tinyeie.boards.build import flash_image
from tinyeie.cli.main import main


def run(capsys, *args):
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip().splitlines()


def test_unknown_board_lists_the_boards(capsys, tmp_path):
    status, _, err = run(capsys, "build", "--board", "de10", "models/lenet300.npz")
    assert status == 2 and len(err) == 1
    assert "unknown board 'de10'" in err[0] and "icebreaker" in err[0] and "ulx3s" in err[0]


def test_program_without_a_build(capsys, tmp_path):
    status, _, err = run(capsys, "program", "--board", "icebreaker", "--build-dir", tmp_path)
    assert status == 2 and "holds no build" in err[0] and "tinyeie build" in err[0]


def fake_build(tmp_path):
    (tmp_path / "build.json").write_text(json.dumps({"board": "icebreaker"}))
    (tmp_path / "flash.bin").write_bytes(b"\xff" * 16)
    return tmp_path


def test_program_without_the_tool(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ICEPROG", str(tmp_path / "no-such-iceprog"))
    status, _, err = run(capsys, "program", "--board", "icebreaker", "--build-dir",
                         fake_build(tmp_path))
    assert status == 2 and "is not installed" in err[0] and "fpga-icestorm" in err[0]


def test_program_with_no_board_attached(capsys, tmp_path, monkeypatch):
    tool = tmp_path / "iceprog"
    tool.write_text('#!/bin/sh\necho "Can\'t find iCE FTDI USB device" >&2\nexit 2\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("ICEPROG", str(tool))
    status, out, err = run(capsys, "program", "--board", "icebreaker", "--build-dir",
                           fake_build(tmp_path))
    assert status == 2 and "could not program the icebreaker" in err[-1]
    assert "Can't find iCE FTDI USB device" in err[-1] and "plugged in" in err[-1]
    assert str(tool) in out        # the command it ran is shown


def test_infer_on_a_missing_port(capsys, tmp_path):
    from tinyeie.sim.bad_modelfiles import small_image

    image = small_image(tmp_path / "model.bin")
    status, _, err = run(capsys, "infer", "--port", tmp_path / "ttyNONE", "--model-image", image)
    assert status == 2 and "cannot open the serial port" in err[0]


def test_infer_checks_the_model_image_before_the_port(capsys, tmp_path):
    status, _, err = run(capsys, "infer", "--port", tmp_path / "ttyNONE", "--model-image",
                         tmp_path / "missing")
    assert status == 2 and len(err) == 1 and "model image" in err[0] and "does not exist" in err[0]


def test_flash_image_layout():
    image = flash_image(b"BITS", b"MODEL", offset=16)
    assert image == b"BITS" + b"\xff" * 12 + b"MODEL"
