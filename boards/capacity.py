"""How large a model each board's default build holds: the largest 784-H-10 MLP, with every layer
at the density of the shipped model's layer in the same place, that packs into the board's engine.

    python -m tinyeie.boards.capacity [--model models/lenet300.npz] [--boards icebreaker ulx3s]

For each board: the largest H, the bytes of its image and the PE memory it takes, and what
refuses H + 1 (the packer's error: which memory, by how much). ECP5 builds size their PE
memories to the model (:func:`~tinyeie.boards.build.packing_config`), so there the bound is
another memory. The weights are random (seeded), at the densities given; only the sizes count.
"""

import argparse
from pathlib import Path

import numpy as np

from tinyeie.boards.boards import BOARDS, board
from tinyeie.boards.build import packing_config
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compiler.image import write_image
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_layers
from tinyeie.sw.compress.modelfile import load_model

__all__ = ["shipped_densities", "largest_mlp"]

MODEL = Path(__file__).resolve().parent.parent / "models" / "lenet300.npz"


def shipped_densities(model):
    """The first and the last layer's fractions of non-zero weights in a compressed model."""
    layers = load_model(model).layers
    return [float((layers[k].index != 0).mean()) for k in (0, -1)]


def _try(config, hidden, densities, inputs, outputs, seed):
    """The packed 784-H-10 network, or the TinyeieError that refuses it."""
    layers = random_layers(np.random.default_rng(seed), [inputs, hidden, outputs],
                           density=densities, cfg=config)
    try:
        return pack(layers, config)
    except TinyeieError as error:
        return error


def largest_mlp(the_board, densities, inputs=784, outputs=10, seed=0):
    """``(H, packed, refusal)``: the largest H for which ``inputs``-H-``outputs`` packs into the
    board's default engine, its packed model, and the error that refuses H + 1 (None when H is
    the widest layer the engine takes at all)."""
    config = packing_config(the_board)
    low, high = 0, config.act_depth + 1          # fits at low (0: none yet), not at high
    best = None
    while high - low > 1:
        middle = (low + high) // 2
        result = _try(config, middle, densities, inputs, outputs, seed)
        if isinstance(result, TinyeieError):
            high = middle
        else:
            low, best = middle, result
    refusal = _try(config, low + 1, densities, inputs, outputs, seed)
    return low, best, refusal if isinstance(refusal, TinyeieError) else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(MODEL), help="whose densities to take")
    parser.add_argument("--boards", nargs="+", default=list(BOARDS), choices=list(BOARDS))
    args = parser.parse_args(argv)
    densities = shipped_densities(args.model)
    print(f"784-H-10 at densities {densities[0]:.1%} (784 x H) and {densities[1]:.1%} (H x 10), "
          f"as {Path(args.model).name}'s first and last layers")
    for name in args.boards:
        b = board(name)
        hidden, packed, refusal = largest_mlp(b, densities)
        words = max(len(w) for w in packed.pe_words)
        print(f"{name}: {packed.config.pes} PEs, largest H = {hidden}: image "
              f"{len(write_image(packed)):,} bytes, PE memory {words:,} words a PE; H = "
              f"{hidden + 1}: {refusal or 'wider than any layer the engine takes'}")
    return 0


if __name__ == "__main__":
    main()
