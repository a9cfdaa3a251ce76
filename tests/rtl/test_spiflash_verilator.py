"""The SPI flash reader on Verilator, against the cocotb flash model (sim/flash_model.py).

The cocotb side is sim/cocotb_spiflash.py: 4 KiB of a random image read from 0x100000 under
random back-pressure, every byte checked, then a stop and a second read. A reader whose
wake-up wait is too short for the clock must fail, which shows the model's checks reach pytest.
"""

import pytest

from tinyeie.hw.spiflash import SPIFlashReader, wake_cycles_for
from tinyeie.sim.harness import SimulationFailure, build, run

pytestmark = pytest.mark.verilator

MODULE = "tinyeie.sim.cocotb_spiflash"
PERIOD_NS = 20      # 50 MHz, a little faster than the fastest board clock (48 MHz)


@pytest.mark.parametrize("divisor, backpressure", [(1, 0.5), (2, 0.9)])
def test_reads_4k_image_under_back_pressure(divisor, backpressure):
    wake = wake_cycles_for(1e9 / PERIOD_NS)
    sim = build(lambda: SPIFlashReader(divisor=divisor, wake_cycles=wake), "spiflash")
    run(sim, MODULE, args={"size": 4096, "base": 0x100000, "backpressure": backpressure,
                           "period_ns": PERIOD_NS})


def test_too_short_wake_up_fails():
    # 144 cycles are 2.88 us at 50 MHz, short of the flash's 3 us
    sim = build(lambda: SPIFlashReader(divisor=2, wake_cycles=144), "spiflash")
    with pytest.raises(SimulationFailure, match="before the wake-up time tRES1"):
        run(sim, MODULE, args={"size": 64, "period_ns": PERIOD_NS})
