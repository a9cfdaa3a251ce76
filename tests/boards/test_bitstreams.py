"""The shipped LeNet-300-100 builds into iCEBreaker and ULX3S bitstreams with the YoWASP tools:
it fits the device, closes timing at the board's clock, and the flash image is laid out as the
board reads it. The slowest tests here (minutes each): the real tools, the real design."""

from pathlib import Path

import pytest

from tinyeie.boards.boards import MODEL_FLASH_OFFSET, board
from tinyeie.boards.build import build_board

pytestmark = [pytest.mark.toolchain, pytest.mark.slow]

MODEL = Path(__file__).resolve().parents[2] / "models" / "lenet300.npz"


@pytest.mark.parametrize("name, min_pes", [("icebreaker", 4), ("ulx3s", 16)])
def test_board_bitstream(name, min_pes, tmp_path):
    fields = build_board(board(name), MODEL, build_dir=tmp_path, progress=False)
    bitstream = Path(fields["bitstream"]).read_bytes()
    assert len(bitstream) > 1000
    assert fields["pes"] >= min_pes
    for resource in ("luts", "bram", "dsps"):
        assert fields[resource] <= fields[f"{resource}_total"]
    assert fields["timing_met"], (f"{fields['fmax_mhz']:.1f} MHz achieved for a "
                                  f"{fields['clock_mhz']:.1f} MHz clock")
    if board(name).flash_boot:
        assert fields["spram"] == fields["spram_total"]      # one SPRAM a PE
        flash = Path(fields["flash_image"]).read_bytes()
        model = Path(fields["model_image"]).read_bytes()
        assert flash[:len(bitstream)] == bitstream
        assert flash[MODEL_FLASH_OFFSET:] == model
