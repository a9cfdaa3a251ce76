"""A slice of the host protocol's random traffic (`make sim-full` runs 1,000 frames): through
the board top's UART, with the real loader and engine, every answer as BoardModel's."""

import pytest

from tinyeie.boards.boards import board
from tinyeie.sim.protocol_traffic import run_traffic

pytestmark = [pytest.mark.verilator, pytest.mark.slow]


def test_random_traffic_against_the_real_loader_and_engine():
    figures = run_traffic(board("ulx3s"), 30, seed=2)
    assert figures["mismatches"] == 0, figures["first_mismatch"]
    assert figures["answers"] >= 30
    assert figures["answer_kinds"].get("RESULT", 0) > 0, figures["answer_kinds"]
