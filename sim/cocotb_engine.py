"""cocotb side of the engine regression (see :mod:`tinyeie.sim.engine_run`).

For each case: write the model through ``i_model``, then for each input vector stream it into
``i_stream``, take ``out_count`` results from ``o_stream`` (checking that only the last is
marked last) and read ``cycles``. The results go to the case's ``output`` file for the pytest
side to compare with the golden model.
"""

import cocotb
import numpy as np

from tinyeie.sim.harness import sim_args
from tinyeie.sim.streams import StreamRules, StreamSink, StreamSource, start_clock, to_signed


@cocotb.test()
async def engine_runs_every_case(dut):
    args = sim_args()
    acc_width = args["acc_width"]
    await start_clock(dut)
    model = StreamSource(dut, "i_model", dut.clk, idle_prob=args["idle"])
    inputs = StreamSource(dut, "i_stream", dut.clk, idle_prob=args["idle"])
    results = StreamSink(dut, "o_stream", dut.clk, backpressure_prob=args["stall"])
    StreamRules(dut, "o_stream", dut.clk)
    for case in args["cases"]:
        if case["commands"]:
            model.send(np.load(case["commands"]).tolist())
            await model.wait_idle()
        vectors = np.load(case["inputs"])
        out_count = case["out_count"]
        logits = np.zeros((len(vectors), out_count), dtype=np.int64)
        cycles = np.zeros(len(vectors), dtype=np.int64)
        for k, vector in enumerate(vectors):
            inputs.send(vector.tolist())
            got = await results.recv(out_count)
            lasts = [item >> acc_width for item in got]
            assert lasts == [0] * (out_count - 1) + [1], \
                f"input {k}: last flags {lasts}, only the final result should be marked"
            logits[k] = [to_signed(item & ((1 << acc_width) - 1), acc_width) for item in got]
            cycles[k] = int(dut.cycles.value)
        np.savez(case["output"], logits=logits, cycles=cycles)
