"""Test images (MNIST's, or a data set's inputs) through the engine's RTL, measured against the
golden model: what ``tinyeie sim`` prints and the cycle benchmark tabulates."""

import tempfile

import numpy as np
from tqdm import tqdm

from tinyeie.sim.engine_run import EngineCase, run_cases
from tinyeie.sim.mismatch import first_mismatch
from tinyeie.sim.waves import keep_waves, wave_format
from tinyeie.sw.compiler.compile import golden_logits, layer_shapes
from tinyeie.sw.compiler.golden import classify, dense_cycles, input_activations
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.data import mnist_dataset

__all__ = ["simulate_engine", "data_inputs", "cycle_figures"]

CHUNK = 250     # images a simulator run; each run writes the model again


def data_inputs(packed, images, data=None):
    """The first ``images`` test inputs of ``data`` (default MNIST) as the engine's input
    integers, and their labels; refused if the model does not fit the data."""
    data = data or mnist_dataset()
    shapes = layer_shapes(packed)
    data.check_model(shapes[0][1], shapes[-1][0])
    x, y = data.test_inputs(images)
    return input_activations(x, packed.config), y


def cycle_figures(packed, inputs, cycles):
    """The cycle measurements of runs of ``inputs`` that took ``cycles``: the RTL's mean, the
    ideal engine's (golden model: the busiest PE's entries), the balanced bound (every PE an
    equal share of the entries), the same engine's on the dense, unskipped work, and ratios."""
    interpreter = Interpreter(packed)
    runs = [interpreter.run(a) for a in inputs]
    ideal = np.array([run.ideal_cycles for run in runs])
    balanced = np.array([run.balanced_cycles for run in runs])
    dense = dense_cycles(layer_shapes(packed), packed.config.pes)
    return {
        "cycles_mean": float(np.mean(cycles)),
        "cycles_max": int(np.max(cycles)),
        "ideal_cycles_mean": float(ideal.mean()),
        "balanced_cycles_mean": float(balanced.mean()),
        "dense_cycles_mean": float(dense),
        "cycles_over_ideal": float(np.mean(cycles) / ideal.mean()),
        "cycles_over_balanced": float(np.mean(cycles) / balanced.mean()),
        "dense_over_cycles": float(dense / np.mean(cycles)),
    }


def simulate_engine(packed, images, *, data=None, progress=True, idle=0.0, stall=0.0,
                    waves=None):
    """Run the first ``images`` test inputs of ``data`` (default MNIST) on the RTL of an engine
    built for the packed model ``packed``; a dict of the measurements.

    ``mismatches``: images whose logits differ from the golden model's in any bit, and the
    first of them in ``first_mismatch`` (:func:`~tinyeie.sim.mismatch.first_mismatch`);
    ``errors``: images the RTL misclassifies; and :func:`cycle_figures`. ``waves``: a file
    (``.fst`` or ``.vcd``) for the waveforms, recorded in one simulator run; its path is in
    ``waves``.
    """
    config = packed.config
    inputs, labels = data_inputs(packed, images, data)
    logits, cycles = [], []
    bar = tqdm(total=images, unit="image", desc=f"RTL, {config.pes} PEs", disable=not progress)
    chunk = images if waves else CHUNK
    with tempfile.TemporaryDirectory(prefix="tinyeie-sim-") as tmp:
        for start in range(0, images, chunk):
            part = inputs[start:start + chunk]
            [result] = run_cases(config, [EngineCase(packed, part)], idle=idle, stall=stall,
                                 waves=waves and wave_format(waves),
                                 run_dir=tmp if waves else None)
            logits.append(result.logits)
            cycles.append(result.cycles)
            bar.update(len(part))
        bar.close()
        written = keep_waves(tmp, waves) if waves else None
    logits, cycles = np.concatenate(logits), np.concatenate(cycles)
    golden = golden_logits(packed, inputs)
    stats = {
        "images": images,
        "pes": config.pes,
        "mismatches": int((logits != golden).any(axis=1).sum()),
        "first_mismatch": first_mismatch(packed, inputs, logits, golden),
        "errors": int((classify(logits) != labels).sum()),
        "golden_errors": int((classify(golden) != labels).sum()),
        **cycle_figures(packed, inputs, cycles),
        "config": config.as_dict(),
    }
    if written is not None:
        stats["waves"] = str(written)
    return stats
