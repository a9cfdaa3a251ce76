"""Run packed models on the engine's RTL in Verilator: the pytest regression and `tinyeie sim`
both go through :func:`run_cases`.

Each case is a model image and a batch of input vectors. The cocotb side
(:mod:`tinyeie.sim.cocotb_engine`) writes the model through ``i_model``, streams each input
vector into ``i_stream`` and collects the results and the engine's cycle count; random idle
cycles and back-pressure are applied to all three streams when asked.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyeie.contract.layouts import WriteCommand, pack_bits
from tinyeie.sim.harness import build, run
from tinyeie.sw.compiler.image import image_sections
from tinyeie.sw.compiler.pack import layer_descriptor

__all__ = ["EngineCase", "CaseResult", "engine_build", "write_commands", "run_cases"]


@dataclass
class EngineCase:
    packed: object         # tinyeie.sw.compiler.pack.PackedModel
    inputs: np.ndarray     # (n, in_count) ints


@dataclass
class CaseResult:
    logits: np.ndarray     # (n, out_count)
    cycles: np.ndarray     # (n,)


def engine_build(config, packed=None, waves=False):
    """The Verilator build of an engine (cached on disk by the Verilog's hash); ``waves`` as
    for :func:`~tinyeie.sim.harness.build`."""
    from tinyeie.hw.engine import Engine
    return build(lambda: Engine(config, packed), f"engine{config.pes}", waves=waves or None)


def write_commands(packed):
    """The model as ``i_model`` payloads (the integers of ``WriteCommand``)."""
    commands = []
    for target, slice_, base, words in image_sections(packed):
        for k, word in enumerate(words):
            commands.append(pack_bits(WriteCommand, data=int(word),
                                      addr={"word": base + k, "slice": slice_,
                                            "target": target}))
    return np.array(commands, dtype=np.uint64)


def run_cases(config, cases, *, idle=0.0, stall=0.0, seed=1, run_dir=None, load=True,
              sim=None, waves=False):
    """Run every case on one build of the engine; one :class:`CaseResult` per case.

    ``load=False`` skips writing the model (a build made with the first case's model in its
    memories, via :func:`engine_build`). ``sim``: another build of the same engine (one with
    coverage, :mod:`tinyeie.sim.coverage`). ``waves``: record waveforms (``dump.fst`` or
    ``dump.vcd`` in ``run_dir``).
    """
    if sim is None:
        sim = engine_build(config, None if load else cases[0].packed, waves)
    with tempfile.TemporaryDirectory(prefix="tinyeie-sim-") as tmp:
        tmp = Path(tmp)
        specs = []
        for k, case in enumerate(cases):
            last = layer_descriptor(case.packed, case.packed.n_layers - 1)
            np.save(tmp / f"inputs{k}.npy", np.asarray(case.inputs, dtype=np.int64))
            if load:
                np.save(tmp / f"commands{k}.npy", write_commands(case.packed))
            specs.append({"commands": str(tmp / f"commands{k}.npy") if load else None,
                          "inputs": str(tmp / f"inputs{k}.npy"),
                          "out_count": last["out_count"], "output": str(tmp / f"out{k}.npz")})
        run(sim, "tinyeie.sim.cocotb_engine", seed=seed, run_dir=run_dir,
            args={"cases": specs, "idle": idle, "stall": stall,
                  "acc_width": config.acc_width})
        results = []
        for spec in specs:
            with np.load(spec["output"]) as out:
                results.append(CaseResult(logits=out["logits"], cycles=out["cycles"]))
    return results
