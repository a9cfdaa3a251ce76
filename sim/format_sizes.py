"""The image's bytes under the ways a PE could find its runs, for docs/engine.md's choice.

    python -m tinyeie.sim.format_sizes [--model models/lenet300.npz] [--pes 4 8 16]

Every variant holds the same 8-bit entries (codebook index and relative index, fillers
included), biases, codebooks, descriptors and image header as the image ``tinyeie pack``
writes; they differ in the column table and the padding:

* ``pointers``: EIE's: a 16-bit pointer per column and PE, no padding;
* ``base+k``: one 16-bit base (a word address) per column and a ``k``-bit offset per PE, the
  padding :func:`~tinyeie.sw.compiler.pack.place_runs` needs to keep every PE within
  ``2**k - 1`` bytes of the base (``k = 4`` is the engine's format: its bytes are the image's);
* ``bound``: every entry a byte, one 16-bit pointer per column and nothing else (issue 10's
  8-bit bound).
"""

import argparse
from pathlib import Path
from unittest import mock

import numpy as np

import tinyeie.sw.compiler.pack as pack_module
from tinyeie.contract.config import EngineConfig
from tinyeie.contract.image import SECTION_WORDS
from tinyeie.contract.layouts import BASE_UNIT, OFFSET_BITS, SLICE_BITS
from tinyeie.sw.compiler.compile import compile_model
from tinyeie.sw.compiler.image import image_sizes, write_image

__all__ = ["format_sizes"]

MODEL = Path(__file__).resolve().parent.parent / "models" / "lenet300.npz"
OFFSETS = [2, 3, 4, 5, 6, 8]
WORD = SLICE_BITS // 8


def _even(count):
    """Bytes of a PE memory region of ``count`` entry bytes: whole 16-bit words."""
    return count + count % 2


def format_sizes(model, config):
    """``{variant: bytes}`` for ``model`` packed for ``config`` (see the module's text)."""
    placed = {}
    real = pack_module.place_runs

    def record(lengths, start=0, activity=None, longest=None):
        placed.update(lengths=np.asarray(lengths), start=start, activity=activity,
                      longest=longest)
        return real(lengths, start, activity, longest)

    with mock.patch.object(pack_module, "place_runs", record):
        packed = compile_model(model, config).packed
    image = len(write_image(packed))
    n, rows = config.pes, len(packed.columns)
    lengths, start = placed["lengths"], placed["start"]
    entries = int(lengths.sum())

    def table(slices):
        """Column-table bytes: ``slices`` words a row, a section (and its header) a slice."""
        return WORD * slices * (rows + SECTION_WORDS)

    # What every variant shares: the image less its column table and its run padding.
    run_bytes = sum(WORD * len(words) - start for words in packed.pe_words)
    shared = image - table(packed.columns.shape[1]) - run_bytes + entries
    out = {"pointers": shared + table(n)}
    for bits in OFFSETS:
        with mock.patch.object(pack_module, "MAX_OFFSET", (1 << bits) - 1):
            _, starts = real(lengths, start, placed["activity"], placed["longest"])
        walked = sum(_even(int(end) - start) for end in starts[:, -1])
        slices = -(-(SLICE_BITS + n * bits) // SLICE_BITS)
        out[f"base+{bits}"] = shared + walked - entries + table(slices)
    sizes = image_sizes(packed)
    out["bound"] = entries + WORD * rows + sum(layer["biases"] + layer["codebooks"]
                                               for layer in sizes["layers"])
    assert out[f"base+{OFFSET_BITS}"] == image, (out, image)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--pes", type=int, nargs="+", default=[4, 8, 16])
    args = parser.parse_args(argv)
    rows = {pes: format_sizes(args.model, EngineConfig(pes=pes)) for pes in args.pes}
    variants = list(next(iter(rows.values())))
    print(f"{Path(args.model).name}: image bytes by how a PE finds its runs "
          f"(base+{OFFSET_BITS} is the engine's; BASE_UNIT {BASE_UNIT} bytes)")
    print(f"{'variant':>10}" + "".join(f"{f'{pes} PEs':>10}" for pes in args.pes))
    for variant in variants:
        print(f"{variant:>10}" + "".join(f"{rows[pes][variant]:>10,}" for pes in args.pes))


if __name__ == "__main__":
    main()
