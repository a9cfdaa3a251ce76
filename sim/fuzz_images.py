"""The model-image fuzzer: structurally edited images with a correct CRC-32 through every
reader of model images, which must agree on what is valid and never crash.

    python -m tinyeie.sim.fuzz_images [--cases N] [--seed S] [--json FILE]

Each case packs a small random network for a small random engine, writes its model image, edits
it (a header field, a section header field, or a data word of a section set to a boundary or a
random value; words cut out or repeated), recomputes the trailer's CRC-32 so that only the
structure can catch the edit, and gives it to:

* the board's loader, through its Python model (:func:`~tinyeie.sw.host.board_model.
  image_verdict`, which is :func:`~tinyeie.contract.image.loader_model`: what the gateware
  loader answers at LOAD-END), built with the model check (the ECP5 boards) and without (the
  iCE40 boards);
* :func:`~tinyeie.sw.compiler.image.read_image`, what every command reads a model image with;
* the interpreter, on two random input vectors, when ``read_image`` accepts.

A reader *crashes* when it raises anything but :class:`~tinyeie.contract.errors.TinyeieError`.
The loader with the model check and ``read_image`` must agree (*loader only* counts the images
that loader takes and ``read_image`` refuses, *reader only* the reverse: both must be 0). The
loader without the check must never refuse what ``read_image`` takes (*reader only
(unchecked)*: the host would send the board an image it then refuses); what it takes beyond
``read_image`` (*loader only (unchecked)*) is bounded on the board by the engine watchdog
(docs/protocol.md, ENGINE-FAULT).
"""

import argparse
import struct
import sys
import time
import zlib
from collections import Counter

import numpy as np
from amaranth.lib import data
from tqdm import tqdm

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.image import (
    HEADER_WORDS,
    SECTION_WORDS,
    ImageHeader,
    SectionHeader,
    field_word,
)
from tinyeie.contract.protocol import LoaderError
from tinyeie.sim.verification_doc import print_figures
from tinyeie.sw.compiler.compile import layer_shapes
from tinyeie.sw.compiler.image import read_image, write_image
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_inputs, random_layers
from tinyeie.sw.host.board_model import image_verdict

__all__ = ["fuzz", "edited_image", "check_image", "main"]


def _engine(rng):
    """A small engine with room for small networks (and none to spare in one memory, at times,
    so that an edit can reach past its end)."""
    return EngineConfig(pes=int(rng.choice([1, 2, 3, 4])), pe_depth=2048, col_depth=128,
                        act_depth=64, max_layers=4, queue_depth=2)


def _network(rng, config):
    sizes = [int(rng.integers(2, 40))] + [int(rng.integers(2, 30))
                                          for _ in range(int(rng.integers(1, 3)))]
    return random_layers(rng, sizes + [int(rng.integers(2, 12))],
                         density=float(rng.uniform(0.1, 0.7)), cfg=config)


def _sections(words):
    """``(position of its header, count)`` of every section of a well-formed image."""
    found, at = [], HEADER_WORDS
    while at + SECTION_WORDS <= len(words) - 2:
        count = int(words[at + field_word(SectionHeader, "count")])
        found.append((at, count))
        at += SECTION_WORDS + count
    return found


def _value(rng, old, bits):
    top = (1 << bits) - 1
    return int(rng.choice([0, 1, top, top >> 1, (old + 1) & top, (old - 1) & top,
                           old ^ (1 << int(rng.integers(bits))), int(rng.integers(top + 1))]))


def edited_image(rng, image):
    """``image`` with one structural edit and its CRC-32 recomputed; and what was edited."""
    words = list(np.frombuffer(image[:-4], dtype="<u2").astype(int))
    sections = _sections(words)
    kind = rng.choice(["header", "section header", "data", "data", "cut", "repeat"])
    if kind in ("header", "section header"):
        layout = ImageHeader if kind == "header" else SectionHeader
        fields = list(data.Layout.cast(layout))
        name, f = fields[int(rng.integers(len(fields)))]
        at = 0 if kind == "header" else sections[int(rng.integers(len(sections)))][0]
        word = at + f.offset // 16
        width = min(f.width, 16)        # of a 32-bit field, its low word
        old = (words[word] >> (f.offset % 16)) & ((1 << width) - 1)
        rest = words[word] & ~(((1 << width) - 1) << (f.offset % 16)) & 0xFFFF
        words[word] = rest | _value(rng, old, width) << (f.offset % 16)
        what = f"{kind} at word {at}: {name} was {old}, now {words[word]:#06x} (word)"
    elif kind == "data":
        at, count = sections[int(rng.integers(len(sections)))]
        if count == 0:
            return edited_image(rng, image)
        k = int(rng.integers(count))
        words[at + SECTION_WORDS + k] = _value(rng, words[at + SECTION_WORDS + k], 16)
        what = f"data word {k} of the section at word {at}"
    elif kind == "cut":
        k, n = int(rng.integers(HEADER_WORDS, len(words))), int(rng.integers(1, 4))
        del words[k:k + n]
        what = f"{n} words cut at word {k}"
    else:
        k, n = int(rng.integers(HEADER_WORDS, len(words))), int(rng.integers(1, 4))
        words[k:k] = words[k:k + n]
        what = f"{n} words repeated at word {k}"
    body = np.array(words, dtype="<u2").tobytes()
    return body + struct.pack("<I", zlib.crc32(body)), what


def check_image(image, config, inputs):
    """``{"loader": ok, "unchecked": ok, "reader": ok, "crash": None or the traceback's last
    line}`` for one image through the loader's model with the model check and without,
    ``read_image`` and the interpreter."""
    verdict = {"loader": image_verdict(image, config, True)[0] == LoaderError.NONE,
               "unchecked": image_verdict(image, config)[0] == LoaderError.NONE,
               "reader": False, "crash": None}
    try:
        packed = read_image(image, config)
        verdict["reader"] = True
        interpreter = Interpreter(packed)
        for a in inputs:
            interpreter.run(a[:layer_shapes(packed)[0][1]])
    except TinyeieError:
        pass
    except Exception as error:      # what the fuzzer looks for: anything else is a crash
        verdict["crash"] = f"{type(error).__name__}: {error}"
    return verdict


def _base_images(rng, count):
    """``count`` random networks, each packed for a random small engine: ``(config, image)``."""
    bases = []
    for _ in range(count):
        config = _engine(rng)
        bases.append((config, write_image(pack(_network(rng, config), config))))
    return bases


def fuzz(cases, seed=1, progress=True, networks=64):
    """Run ``cases`` edited images of ``networks`` random networks; the figures as a dict
    (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    bases = _base_images(rng, networks)
    counts = Counter()
    failures = []
    for case in tqdm(range(cases), desc="model images", unit="image", disable=not progress,
                     mininterval=2):
        config, image = bases[int(rng.integers(len(bases)))]
        inputs = random_inputs(rng, 2, 64, cfg=config)
        edited, what = edited_image(rng, image)
        verdict = check_image(edited, config, inputs)
        counts["tried"] += 1
        counts["loader accepts"] += verdict["loader"]
        counts["reader accepts"] += verdict["reader"]
        counts["loader only"] += verdict["loader"] and not verdict["reader"]
        counts["reader only"] += verdict["reader"] and not verdict["loader"]
        counts["loader only (unchecked)"] += verdict["unchecked"] and not verdict["reader"]
        counts["reader only (unchecked)"] += verdict["reader"] and not verdict["unchecked"]
        counts["crashed"] += verdict["crash"] is not None
        if (verdict["crash"] or verdict["reader"] != verdict["loader"]
                or (verdict["reader"] and not verdict["unchecked"])):
            failures.append({"case": case, "edit": what, **verdict})
    return {"cases": cases, "seed": seed, "networks": networks,
            **{k.replace(" (", "_").replace(")", "").replace(" ", "_"): v
               for k, v in counts.items()},
            "seconds": round(time.monotonic() - started, 1), "failures": failures[:50]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = fuzz(args.cases, args.seed)
    print_figures(figures, args.json)
    return 0 if not figures["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
