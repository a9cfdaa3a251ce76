"""Stages hand over files: after `tinyeie pack`, nothing calibrates or packs the model again."""

import json
from pathlib import Path

import pytest

import tinyeie.sw.compiler.compile as compile_module
from tinyeie.boards.boards import board
from tinyeie.boards.build import board_packed
from tinyeie.cli.main import main
from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compiler.compile import compile_model
from tinyeie.sw.compiler.image import save_packed, write_image

MODEL = Path(__file__).resolve().parents[2] / "models" / "lenet300.npz"


@pytest.fixture(scope="module")
def packed_4pe(tmp_path_factory):
    """LeNet-300-100 packed for the default 4-PE engine, as `tinyeie pack` writes it."""
    folder = tmp_path_factory.mktemp("packed") / "lenet300-4pe"
    save_packed(compile_model(MODEL, EngineConfig(pes=4)).packed, folder)
    return folder


@pytest.fixture
def no_calibration(monkeypatch):
    """Calibrating (the expensive part of packing) fails the test."""
    def refuse():
        raise AssertionError("the model was calibrated again")
    monkeypatch.setattr(compile_module, "calibration_images", refuse)


def test_a_board_takes_the_model_image_as_packed(packed_4pe, no_calibration):
    packed = board_packed(board("icebreaker"), packed_4pe)
    assert packed.config == board("icebreaker").engine_config()
    assert write_image(packed) == (packed_4pe / "model.bin").read_bytes()


def test_an_ecp5_board_sizes_its_memories_to_the_image(packed_4pe, no_calibration):
    packed = board_packed(board("ulx3s"), packed_4pe)
    assert packed.config.pes == 4       # the image's PEs, as none were asked for
    assert packed.config.pe_depth >= max(len(w) for w in packed.pe_words)
    assert packed.config.pe_depth % 1024 == 0


def test_a_board_refuses_an_image_for_other_pes(packed_4pe, no_calibration):
    with pytest.raises(TinyeieError, match="packed for pes=4, the engine has pes=16"):
        board_packed(board("ulx3s"), packed_4pe, pes=16)


@pytest.mark.verilator
def test_sim_runs_the_model_image(packed_4pe, no_calibration, capsys):
    assert main(["sim", str(packed_4pe / "model.bin"), "--images", "3", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["images"] == 3 and stats["mismatches"] == 0 and stats["pes"] == 4
