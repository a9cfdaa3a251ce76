"""The engine's cycle benchmark: LeNet-300-100 and a family of small MLPs on MNIST test images,
RTL on Verilator.

    python -m tinyeie.sim.bench_cycles [--images K] [--pes 4 8 16] [--model PATH]
                                       [--small-pes 8] [--small-images K]

For each PE count: the mean cycles per image against the ideal engine (the busiest PE's
entries; golden model), the balanced bound (every PE an equal share of the entries) and the same
engine on the dense, unskipped work, with the images' bit-exactness. Then small MLPs (784-H-10
and 784-H-H'-10 with a few dozen hidden units, random weights at the shipped model's density)
against their ideal. It measures; nothing here asserts a speed.
"""

import argparse
from pathlib import Path

import numpy as np

from tinyeie.contract.config import EngineConfig
from tinyeie.sim.engine_bench import simulate_engine
from tinyeie.sim.engine_run import EngineCase, run_cases
from tinyeie.sw.compiler.compile import packed_model
from tinyeie.sw.compiler.golden import input_activations, input_activity, int_forward
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_layers
from tinyeie.sw.mnist import load_mnist

MODEL = Path(__file__).resolve().parent.parent / "models" / "lenet300.npz"
SMALL = [[784, 24, 10], [784, 32, 10], [784, 48, 10], [784, 64, 10], [784, 32, 16, 10],
         [784, 32, 32, 10], [784, 48, 24, 10], [784, 64, 32, 10]]
DENSITY = [0.08, 0.15, 0.3]     # first, hidden, last layer: about the shipped model's


def small_mlps(config, images, seed=0):
    """``[(sizes, cycles, ideal, mismatches)]`` for every network of :data:`SMALL` on the
    first ``images`` MNIST test images."""
    rng = np.random.default_rng(seed)
    xt, _ = load_mnist()["test"]
    inputs = input_activations(xt[:images], config)
    cases, models = [], []
    for sizes in SMALL:
        density = DENSITY[:1] + DENSITY[1:-1] * (len(sizes) - 3) + DENSITY[-1:]
        layers = random_layers(rng, sizes, density=density, cfg=config)
        activity = input_activity(layers, inputs, config)
        cases.append(EngineCase(pack(layers, config, activity=activity), inputs))
        models.append(layers)
    results = run_cases(config, cases)
    rows = []
    for sizes, case, layers, result in zip(SMALL, cases, models, results):
        interpreter = Interpreter(case.packed)
        ideal = np.mean([interpreter.run(a).ideal_cycles for a in inputs])
        mismatches = int((result.logits != int_forward(layers, inputs, config)).any(axis=1).sum())
        rows.append((sizes, float(result.cycles.mean()), float(ideal), mismatches))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--pes", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--small-pes", type=int, default=8)
    parser.add_argument("--small-images", type=int, default=50)
    args = parser.parse_args(argv)
    rows = [simulate_engine(packed_model(args.model, EngineConfig(pes=pes)), args.images)
            for pes in args.pes]
    print(f"\n{Path(args.model).name}, first {args.images} MNIST test images, RTL on Verilator")
    head = (f"{'PEs':>4} {'queue':>6} {'cycles':>8} {'ideal':>8} {'bound':>8} {'x ideal':>8} "
            f"{'x bound':>8} {'dense':>8} {'dense/x':>8} {'mismatches':>11} {'errors':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['pes']:>4} {r['config']['queue_depth']:>6} {r['cycles_mean']:>8.1f} "
              f"{r['ideal_cycles_mean']:>8.1f} {r['balanced_cycles_mean']:>8.1f} "
              f"{r['cycles_over_ideal']:>8.3f} {r['cycles_over_balanced']:>8.3f} "
              f"{r['dense_cycles_mean']:>8.0f} {r['dense_over_cycles']:>8.1f} "
              f"{r['mismatches']:>11} {r['errors']:>7}")

    config = EngineConfig(pes=args.small_pes)
    small = small_mlps(config, args.small_images)
    print(f"\nsmall MLPs (random weights, densities {DENSITY}), {args.small_pes} PEs, first "
          f"{args.small_images} MNIST test images")
    head = f"{'network':>18} {'cycles':>8} {'ideal':>8} {'x ideal':>8} {'mismatches':>11}"
    print(head)
    print("-" * len(head))
    for sizes, cycles, ideal, mismatches in small:
        print(f"{'-'.join(map(str, sizes)):>18} {cycles:>8.1f} {ideal:>8.1f} "
              f"{cycles / ideal:>8.3f} {mismatches:>11}")
    ratios = [cycles / ideal for _, cycles, ideal, _ in small]
    print(f"{'mean':>18} {'':>8} {'':>8} {np.mean(ratios):>8.3f}   (worst {max(ratios):.3f})")


if __name__ == "__main__":
    main()
