"""MNIST images through the engine's RTL, measured against the golden model: what
``tinyeie sim`` prints and the cycle benchmark tabulates."""

import numpy as np
from tqdm import tqdm

from tinyeie.contract.errors import TinyeieError
from tinyeie.sim.engine_run import EngineCase, run_cases
from tinyeie.sw.compiler.compile import golden_logits, layer_shapes
from tinyeie.sw.compiler.golden import classify, dense_cycles, input_activations
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.mnist import load_mnist

__all__ = ["simulate_mnist", "mnist_inputs", "cycle_figures"]

CHUNK = 250     # images a simulator run; each run writes the model again


def mnist_inputs(config, images):
    """The first ``images`` MNIST test images as the engine's input integers, and their
    labels."""
    xt, yt = load_mnist()["test"]
    if not 1 <= images <= len(xt):
        raise TinyeieError(f"--images must be 1..{len(xt)}, not {images}")
    return input_activations(xt[:images], config), yt[:images]


def cycle_figures(packed, inputs, cycles):
    """The cycle measurements of runs of ``inputs`` that took ``cycles``: the RTL's mean, the
    ideal engine's (golden model), the same engine's on the dense, unskipped work, and ratios."""
    interpreter = Interpreter(packed)
    ideal = np.array([interpreter.run(a).ideal_cycles for a in inputs])
    dense = dense_cycles(layer_shapes(packed), packed.config.pes)
    return {
        "cycles_mean": float(np.mean(cycles)),
        "cycles_max": int(np.max(cycles)),
        "ideal_cycles_mean": float(ideal.mean()),
        "dense_cycles_mean": float(dense),
        "cycles_over_ideal": float(np.mean(cycles) / ideal.mean()),
        "dense_over_cycles": float(dense / np.mean(cycles)),
    }


def simulate_mnist(packed, images, *, progress=True, idle=0.0, stall=0.0):
    """Run the first ``images`` MNIST test images on the RTL of an engine built for the packed
    model ``packed``; a dict of the measurements.

    ``mismatches``: images whose logits differ from the golden model's in any bit;
    ``errors``: images the RTL misclassifies; and :func:`cycle_figures`.
    """
    config = packed.config
    inputs, labels = mnist_inputs(config, images)
    logits, cycles = [], []
    bar = tqdm(total=images, unit="image", desc=f"RTL, {config.pes} PEs", disable=not progress)
    for start in range(0, images, CHUNK):
        chunk = inputs[start:start + CHUNK]
        [result] = run_cases(config, [EngineCase(packed, chunk)], idle=idle, stall=stall)
        logits.append(result.logits)
        cycles.append(result.cycles)
        bar.update(len(chunk))
    bar.close()
    logits, cycles = np.concatenate(logits), np.concatenate(cycles)
    golden = golden_logits(packed, inputs)
    return {
        "images": images,
        "pes": config.pes,
        "mismatches": int((logits != golden).any(axis=1).sum()),
        "errors": int((classify(logits) != labels).sum()),
        "golden_errors": int((classify(golden) != labels).sum()),
        **cycle_figures(packed, inputs, cycles),
        "config": config.as_dict(),
    }
