"""Regressions at scale, seeded, each writing its figures as JSON (``make sim-full``).

* ``mnist``: the 10,000 MNIST test images through the engine's RTL for each PE count asked,
  every logit against the golden model;
* ``random``: random networks (1 to 3 layers of every shape and density, fillers, empty
  columns, saturation, several models written into one engine) at each PE count, under all
  four combinations of an idle or busy source and a stalling or ready sink;
* ``protocol``: see :mod:`tinyeie.sim.protocol_traffic`.

``python -m tinyeie.sim.regress random --networks 20`` runs a small slice (as ``make test``
does in tests/rtl); the defaults are the full runs.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tinyeie.contract.config import EngineConfig

__all__ = ["random_networks", "regress_random", "regress_mnist", "main"]

PES = (1, 2, 3, 4, 8, 16)
# (idle, stall): source always valid or idle at random; sink always ready or stalling at random.
TRAFFIC = ((0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (0.5, 0.7))


def random_config(pes):
    """The engine the random networks run on: layers up to 128 wide, PE memories that hold
    three dense ones on one PE, every PE count's default queue depth."""
    return EngineConfig(pes=pes, pe_depth=1 << 16, col_depth=512, act_depth=128, max_layers=4)


def random_networks(rng, config, count, vectors=3, width=128):
    """``count`` random networks (``(layers, inputs)``) for ``config``: 1 to 3 layers of 1 to
    ``width`` rows and columns (at most ``act_depth``), densities from 0 to 1 per layer, gaps
    over 15 rows, empty columns, saturating requantisation; inputs of every density, the first
    all zeros and the second at full scale."""
    from tinyeie.sw.compiler.random_model import random_inputs, random_layers

    top = min(width, config.act_depth)
    networks = []
    for _ in range(count):
        n_layers = int(rng.integers(1, 4))
        sizes = [int(rng.integers(1, top + 1)) for _ in range(n_layers + 1)]
        density = rng.choice([0.0, 0.02, 0.1, 0.3, 0.8, 1.0], n_layers)
        density[0] = max(density[0], 0.02)
        layers = random_layers(rng, sizes, density=density, cfg=config,
                               gap_rows=int(rng.choice([0, 17, 40])),
                               empty_cols=float(rng.choice([0.0, 0.15, 0.5])),
                               saturate=bool(rng.random() < 0.3))
        inputs = random_inputs(rng, vectors, sizes[0], density=float(rng.uniform(0.05, 1.0)),
                               cfg=config)
        inputs[0] = 0
        if vectors > 1:
            inputs[1] = rng.choice([-(1 << (config.act_width - 1)),
                                    (1 << (config.act_width - 1)) - 1], sizes[0])
        networks.append((layers, inputs))
    return networks


def regress_random(networks_per_run, *, pes=PES, traffic=TRAFFIC, seed=12, batch=50,
                   progress=print):
    """Run ``networks_per_run`` random networks for each PE count and traffic pattern;
    returns the figures (raises nothing on a mismatch: ``mismatches`` counts them)."""
    from tinyeie.sim.engine_run import EngineCase, run_cases
    from tinyeie.sw.compiler.golden import int_forward
    from tinyeie.sw.compiler.pack import pack

    started = time.monotonic()
    runs, failures = [], []
    for n in pes:
        config = random_config(n)
        for idle, stall in traffic:
            run_seed = seed * 1000 + n * 10 + traffic.index((idle, stall))
            rng = np.random.default_rng(run_seed)
            nets = random_networks(rng, config, networks_per_run)
            t = time.monotonic()
            layers = vectors = mismatches = 0
            for at in range(0, len(nets), batch):
                chunk = nets[at:at + batch]
                cases = [EngineCase(pack(net, config), inputs) for net, inputs in chunk]
                results = run_cases(config, cases, idle=idle, stall=stall, seed=run_seed + at)
                for k, ((net, inputs), result) in enumerate(zip(chunk, results)):
                    want = int_forward(net, inputs, config)
                    bad = np.flatnonzero((result.logits != want).any(axis=1))
                    mismatches += len(bad)
                    if len(bad):
                        failures.append({"pes": n, "idle": idle, "stall": stall,
                                         "seed": run_seed, "network": at + k,
                                         "shape": [net[0].index.shape[1]]
                                         + [layer.index.shape[0] for layer in net],
                                         "vectors": bad.tolist()})
                    layers += len(net)
                    vectors += len(inputs)
            runs.append({"pes": n, "idle": idle, "stall": stall, "seed": run_seed,
                         "networks": len(nets), "layers": layers, "vectors": vectors,
                         "mismatches": mismatches, "seconds": round(time.monotonic() - t, 1)})
            progress(f"random: {n:2} PEs, idle {idle}, stall {stall}: {len(nets)} networks, "
                     f"{layers} layers, {vectors} vectors, {mismatches} mismatches "
                     f"({runs[-1]['seconds']} s)")
    return {
        "check": "random",
        "networks": sum(r["networks"] for r in runs),
        "layers": sum(r["layers"] for r in runs),
        "vectors": sum(r["vectors"] for r in runs),
        "mismatches": sum(r["mismatches"] for r in runs),
        "pes": list(pes),
        "traffic": [list(t) for t in traffic],
        "runs": runs,
        "failures": failures[:20],
        "seconds": round(time.monotonic() - started, 1),
    }


def regress_mnist(images, *, pes=(4, 16), model=None, progress=print):
    """The first ``images`` MNIST test images through the RTL at each PE count."""
    from tinyeie.sim.engine_bench import simulate_engine
    from tinyeie.sw.compiler.compile import packed_model

    model = model or Path(__file__).resolve().parent.parent / "models" / "lenet300.npz"
    started = time.monotonic()
    runs = []
    for n in pes:
        t = time.monotonic()
        stats = simulate_engine(packed_model(model, EngineConfig(pes=n)), images, progress=False)
        stats["seconds"] = round(time.monotonic() - t, 1)
        runs.append(stats)
        progress(f"mnist: {n} PEs, {images} images: {stats['mismatches']} mismatches, "
                 f"{stats['errors']} misclassified, {stats['cycles_mean']:.0f} cycles an image "
                 f"({stats['seconds']} s)")
    return {"check": "mnist", "model": Path(model).name, "images": images,
            "mismatches": sum(r["mismatches"] for r in runs), "runs": runs,
            "seconds": round(time.monotonic() - started, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinyeie.sim.regress",
                                     description="Regressions at scale (make sim-full).")
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("random", help="random networks, every PE count and traffic pattern")
    p.add_argument("--networks", type=int, default=210,
                   help="networks per PE count and traffic pattern (210: about 10,000 layers)")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--json")
    p = sub.add_parser("protocol", help="random host traffic through a board top's UART")
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--board", default="ulx3s")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json")
    p = sub.add_parser("mnist", help="MNIST test images through the RTL")
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--pes", type=int, nargs="+", default=[4, 16])
    p.add_argument("--json")
    args = parser.parse_args(argv)
    if args.what == "random":
        figures = regress_random(args.networks, seed=args.seed)
    elif args.what == "protocol":
        from tinyeie.boards.boards import board
        from tinyeie.sim.protocol_traffic import run_traffic
        figures = run_traffic(board(args.board), args.frames, seed=args.seed)
        print(f"protocol: {figures['frames']} frames, {figures['answers']} answers, "
              f"{figures['mismatches']} mismatches ({figures['seconds']} s)")
    else:
        figures = regress_mnist(args.images, pes=args.pes)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 1 if figures["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
