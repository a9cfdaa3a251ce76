"""The engine's cycle benchmark: LeNet-300-100 on MNIST test images, RTL on Verilator.

    python -m tinyeie.sim.bench_cycles [--images K] [--pes 4 8] [--model PATH]

For each PE count: the mean cycles per image against the ideal engine (golden model) and
against the same engine on the dense, unskipped work, with the images' bit-exactness. It
measures; nothing here asserts a speed.
"""

import argparse
from pathlib import Path

from tinyeie.contract.config import EngineConfig
from tinyeie.sim.engine_bench import simulate_engine
from tinyeie.sw.compiler.compile import packed_model

MODEL = Path(__file__).resolve().parent.parent / "models" / "lenet300.npz"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--pes", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--model", default=str(MODEL))
    args = parser.parse_args(argv)
    rows = [simulate_engine(packed_model(args.model, EngineConfig(pes=pes)), args.images)
            for pes in args.pes]
    print(f"\n{Path(args.model).name}, first {args.images} MNIST test images, RTL on Verilator")
    head = (f"{'PEs':>4} {'queue':>6} {'cycles':>8} {'ideal':>8} {'x ideal':>8} {'dense':>8} "
            f"{'dense/x':>8} {'mismatches':>11} {'errors':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['pes']:>4} {r['config']['queue_depth']:>6} {r['cycles_mean']:>8.0f} "
              f"{r['ideal_cycles_mean']:>8.0f} {r['cycles_over_ideal']:>8.3f} "
              f"{r['dense_cycles_mean']:>8.0f} {r['dense_over_cycles']:>8.1f} "
              f"{r['mismatches']:>11} {r['errors']:>7}")


if __name__ == "__main__":
    main()
