"""The board commands as a user meets them without a board: clean errors that say what to do."""

import json
import stat
from pathlib import Path

import numpy as np
import pytest

import tinyeie.flow
import tinyeie.sw.host.ports
from tinyeie.boards.boards import MODEL_FLASH_OFFSET, board
from tinyeie.boards.build import flash_image
from tinyeie.boards.program import program_commands
from tinyeie.cli.main import main
from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compiler.golden import int_forward
from tinyeie.sw.compiler.image import save_packed
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_layers
from tinyeie.sw.data import save_dataset
from tinyeie.sw.host.board import Board
from tinyeie.sw.host.board_model import BoardModel, image_verdict


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
    monkeypatch.setenv("PATH", "")
    status, _, err = run(capsys, "program", "--board", "icebreaker", "--tool", "iceprog",
                         "--build-dir", fake_build(tmp_path))
    assert status == 3 and "ICEPROG=" in err[0] and "not an executable" in err[0]
    monkeypatch.delenv("ICEPROG")
    status, _, err = run(capsys, "program", "--board", "upduino3", "--build-dir",
                         fake_build(tmp_path))
    assert status == 3 and "iceprog is not installed" in err[0] and "fpga-icestorm" in err[0]


def fake_tool(tmp_path, name, says, status=1):
    tool = tmp_path / name
    tool.write_text(f'#!/bin/sh\necho "{says}" >&2\nexit {status}\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return tool


def test_program_with_no_board_attached(capsys, tmp_path, monkeypatch):
    tool = fake_tool(tmp_path, "iceprog", "Can't find iCE FTDI USB device", 2)
    monkeypatch.setenv("ICEPROG", str(tool))
    status, out, err = run(capsys, "program", "--board", "icebreaker", "--tool", "iceprog",
                           "--build-dir", fake_build(tmp_path))
    assert status == 2 and "iceprog could not program the icebreaker" in err[-1]
    assert "Can't find iCE FTDI USB device" in err[-1] and "plugged in" in err[-1]
    assert "udev rule" in err[-1] and 'ATTRS{idProduct}=="6010"' in err[-1]
    assert str(tool) in out        # the command it ran is shown


def test_openfpgaloader_is_the_default_where_it_knows_the_board(tmp_path):
    build = fake_build(tmp_path)
    (build / "model").mkdir()
    (build / "tinyeie.bit").write_bytes(b"bits")
    [command] = program_commands(board("icebreaker"), build)
    assert Path(command[0]).name == "openFPGALoader" and "openfpgaloader" in command[0]
    assert command[1:] == ["-b", "ice40_generic", "-f", str(build / "flash.bin")]
    [command] = program_commands(board("icebreaker"), build, model_only=True)
    assert command[1:] == ["-b", "ice40_generic", "-f", "-o", str(MODEL_FLASH_OFFSET),
                           str(build / "model" / "model.bin")]
    [command] = program_commands(board("ulx3s"), build, flash=True)
    assert command[1:] == ["-b", "ulx3s", "-f", str(build / "tinyeie.bit")]
    with pytest.raises(TinyeieError, match="openfpgaloader does not program the upduino3: use "
                                           "iceprog"):
        program_commands(board("upduino3"), build, tool="openfpgaloader")


def test_a_device_that_cannot_be_opened_gets_the_udev_hint(capsys, tmp_path, monkeypatch):
    tool = fake_tool(tmp_path, "ofl", "unable to open ftdi device: -4 (usb_open() failed)")
    monkeypatch.setenv("OPENFPGALOADER", str(tool))
    (tmp_path / "tinyeie.bit").write_bytes(b"bits")
    status, _, err = run(capsys, "program", "--board", "ulx3s", "--build-dir",
                         fake_build(tmp_path))
    assert status == 2 and "usb_open() failed" in err[-1]
    assert "may not open the board's USB device" in err[-1]
    assert 'ATTRS{idVendor}=="0403", ATTRS{idProduct}=="6015"' in err[-1]


def test_missing_usb_libraries_say_what_to_install(capsys, tmp_path, monkeypatch):
    tool = fake_tool(tmp_path, "ofl", "openFPGALoader: error while loading shared libraries: "
                                      "libftdi1.so.2: cannot open shared object file", 127)
    monkeypatch.setenv("OPENFPGALOADER", str(tool))
    status, _, err = run(capsys, "program", "--board", "icebreaker", "--build-dir",
                         fake_build(tmp_path))
    assert status == 3 and "libftdi1-2 libusb-1.0-0" in err[-1]


CFG = EngineConfig(pes=2, pe_depth=256, col_depth=64, act_depth=64, max_layers=3)


@pytest.fixture
def image(tmp_path):
    """A random 12-6-4 model packed as `tinyeie pack` writes it, and a data set it fits."""
    layers = random_layers(np.random.default_rng(3), [12, 6, 4], cfg=CFG)
    save_packed(pack(layers, CFG), tmp_path / "model")
    rng = np.random.default_rng(4)
    save_dataset(tmp_path / "data.npz", rng.random((10, 12)) * 0.9, rng.integers(0, 4, 10),
                 rng.random((20, 12)) * 0.9, rng.integers(0, 4, 20))
    return tmp_path / "model", tmp_path / "data.npz", layers


class FakePort:
    """pyserial's read/write, answered by the board's reference model."""

    def __init__(self, board):
        self.board, self.pending, self.timeout = board, bytearray(), 0.2

    def write(self, data):
        self.pending += self.board.receive(data)
        return len(data)

    def read(self, n):
        out = bytes(self.pending[:n])
        del self.pending[:n]
        return out


def fake_board(monkeypatch, layers, fault_at=None, holds=None):
    """`tinyeie infer` talks to a BoardModel running ``layers``; with ``fault_at``, the board
    adds 1 to the first logit of that input (counting from 0)."""
    calls = []

    def engine(activations):
        logits = int_forward(layers, np.array(activations), CFG).tolist()
        if len(calls) == fault_at:
            logits[0] += 1
        calls.append(activations)
        return logits, 100 + len(calls)
    model = BoardModel(CFG, engine, lambda data: image_verdict(data, CFG),
                       preloaded=holds or (layers[0].shape[1], layers[-1].shape[0]))
    monkeypatch.setattr(tinyeie.flow, "connect",
                        lambda port=None, board=None, baud=None: Board(FakePort(model)))


def test_infer_a_batch_with_an_accuracy_summary(capsys, monkeypatch, image):
    model, data, layers = image
    fake_board(monkeypatch, layers)
    status, out, _ = run(capsys, "infer", "--model-image", model, "--data", data, "--images", 9,
                         "--json")
    result = json.loads(out)
    assert status == 0 and result["inputs"] == 9 and result["mismatches"] == 0
    assert result["classes"] == result["golden_classes"] and len(result["labels"]) == 9
    assert result["errors"] == result["golden_errors"] and result["cycles"][:2] == [101, 102]
    status, out, _ = run(capsys, "infer", "--model-image", model, "--data", data, "--images", 9)
    assert status == 0 and "9 inputs on the board: 0 differ from the golden model" in out
    assert "accuracy" in out


def test_infer_reports_the_input_where_the_board_differs(capsys, monkeypatch, image, tmp_path):
    model, data, layers = image
    fake_board(monkeypatch, layers, fault_at=3)
    np.save(tmp_path / "inputs.npy", np.random.default_rng(5).random((6, 12)) * 0.9)
    status, out, _ = run(capsys, "infer", "--model-image", model, tmp_path / "inputs.npy",
                         "--json")
    result = json.loads(out)
    assert status == 1 and result["mismatches"] == 1 and result["first_mismatch"] == 3
    assert "labels" not in result


def test_infer_refuses_inputs_of_another_size(capsys, monkeypatch, image, tmp_path):
    model, _, layers = image
    fake_board(monkeypatch, layers)
    np.save(tmp_path / "inputs.npy", np.zeros(13))
    status, _, err = run(capsys, "infer", "--model-image", model, tmp_path / "inputs.npy")
    assert status == 2 and "takes 12 inputs, the inputs have 13 features" in err[0]


def test_infer_refuses_a_model_image_the_board_does_not_hold(capsys, monkeypatch, image):
    model, data, layers = image
    fake_board(monkeypatch, layers, holds=(784, 10))
    status, _, err = run(capsys, "infer", "--model-image", model, "--data", data)
    assert status == 2 and "the board's model (2 PEs, 784 inputs, 10 outputs) is not" in err[0]
    assert "--load" in err[0]


def test_infer_without_a_board_lists_the_ports(capsys, monkeypatch, image, tmp_path):
    model, data, _ = image
    monkeypatch.setattr(tinyeie.sw.host.ports, "serial_ports", lambda: [])
    status, _, err = run(capsys, "infer", "--model-image", model, "--data", data)
    assert status == 2 and "no board found on USB" in err[0] and "seen: none" in err[0]


def test_infer_on_a_missing_port(capsys, image):
    model, data, _ = image
    status, _, err = run(capsys, "infer", "--port", model.parent / "ttyNONE", "--model-image",
                         model, "--data", data)
    assert status == 2 and "cannot open the serial port" in err[0]


def test_infer_checks_the_model_image_before_the_port(capsys, tmp_path):
    status, _, err = run(capsys, "infer", "--port", tmp_path / "ttyNONE", "--model-image",
                         tmp_path / "missing")
    assert status == 2 and len(err) == 1 and "model image" in err[0] and "does not exist" in err[0]


def test_flash_image_layout():
    image = flash_image(b"BITS", b"MODEL", offset=16)
    assert image == b"BITS" + b"\xff" * 12 + b"MODEL"
