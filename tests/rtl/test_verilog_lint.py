"""`tinyeie verilog` writes Verilog that `verilator --lint-only` accepts, with only the warnings
Amaranth's Verilog raises by construction switched off (listed in harness.SUPPRESSED_WARNINGS)."""

import subprocess

import pytest

from tinyeie.cli.main import main
from tinyeie.sim.harness import SUPPRESSED_WARNINGS, verilator_path

pytestmark = pytest.mark.verilator


@pytest.mark.parametrize("pes", [1, 4, 16])
def test_engine_verilog_lints_clean(tmp_path, pes):
    out = tmp_path / "engine.v"
    assert main(["verilog", "--pes", str(pes), "--pe-depth", "4096", "-o", str(out)]) == 0
    result = subprocess.run(
        [str(verilator_path() / "verilator"), "--lint-only", "--top-module", "tinyeie_engine",
         *(f"-Wno-{name}" for name in SUPPRESSED_WARNINGS), str(out)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "%Warning" not in result.stderr and "%Error" not in result.stderr
