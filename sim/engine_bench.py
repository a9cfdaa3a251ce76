"""MNIST images through the engine's RTL, measured against the golden model: what
``tinyeie sim`` prints and the cycle benchmark tabulates."""

import numpy as np
from tqdm import tqdm

from tinyeie.sim.engine_run import EngineCase, run_cases
from tinyeie.sw.compiler.compile import compile_model
from tinyeie.sw.compiler.golden import classify, dense_cycles, input_activations
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.mnist import load_mnist

__all__ = ["simulate_mnist"]

CHUNK = 250     # images a simulator run; each run writes the model again


def simulate_mnist(model, config, images, *, progress=True, idle=0.0, stall=0.0):
    """Run the first ``images`` MNIST test images on the RTL; a dict of the measurements.

    ``mismatches``: images whose logits differ from the golden model's in any bit;
    ``errors``: images the RTL misclassifies; cycle means per image: the RTL's, the ideal
    engine's (golden model) and the same engine's on the dense, unskipped work.
    """
    compiled = compile_model(model, config)
    xt, yt = load_mnist()["test"]
    if not 1 <= images <= len(xt):
        from tinyeie.contract.errors import TinyeieError
        raise TinyeieError(f"--images must be 1..{len(xt)}, not {images}")
    pixels, labels = xt[:images], yt[:images]
    inputs = input_activations(pixels, config)
    logits, cycles = [], []
    bar = tqdm(total=images, unit="image", desc=f"RTL, {config.pes} PEs", disable=not progress)
    for start in range(0, images, CHUNK):
        chunk = inputs[start:start + CHUNK]
        [result] = run_cases(config, [EngineCase(compiled.packed, chunk)], idle=idle,
                             stall=stall)
        logits.append(result.logits)
        cycles.append(result.cycles)
        bar.update(len(chunk))
    bar.close()
    logits, cycles = np.concatenate(logits), np.concatenate(cycles)
    golden = compiled.int_logits(pixels)
    interpreter = Interpreter(compiled.packed)
    ideal = np.array([interpreter.run(a).ideal_cycles for a in inputs])
    dense = dense_cycles([layer.shape for layer in compiled.int_layers], config.pes)
    return {
        "images": images,
        "pes": config.pes,
        "mismatches": int((logits != golden).any(axis=1).sum()),
        "errors": int((classify(logits) != labels).sum()),
        "golden_errors": int((classify(golden) != labels).sum()),
        "cycles_mean": float(cycles.mean()),
        "cycles_max": int(cycles.max()),
        "ideal_cycles_mean": float(ideal.mean()),
        "dense_cycles_mean": float(dense),
        "cycles_over_ideal": float(cycles.mean() / ideal.mean()),
        "dense_over_cycles": float(dense / cycles.mean()),
        "config": config.as_dict(),
    }
