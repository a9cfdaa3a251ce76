"""Writing and reading the binary model image (``model.bin``).

The layout and the rules of a valid image are the contract's (:mod:`tinyeie.contract.image`):
this module lays a :class:`~tinyeie.sw.compiler.pack.PackedModel` out in it, and reads one back
through the same checks the board's loader makes.
"""

import json
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.image import (
    HEADER_WORDS,
    MAX_SECTION,
    SECTION_WORDS,
    TRAILER_WORDS,
    VERSION,
    SectionHeader,
    header_words,
    loader_model,
    max_image_bytes,
    read_header,
)
from tinyeie.contract.layouts import (
    CODEBOOK_SIZE,
    DESCRIPTOR_WORDS,
    ENTRIES_PER_WORD,
    LAYER_WORDS,
    SLICE_BITS,
    Target,
    column_slices,
    pack_bits,
    to_words,
)
from tinyeie.contract.protocol import LoaderError
from tinyeie.sw.compiler.pack import PackedModel, layer_descriptor
from tinyeie.sw.outputs import write_bytes, write_text

__all__ = ["write_image", "read_image", "image_sections", "image_sizes", "format_sizes",
           "fit_to_engine", "check_fits_engine", "write_hex", "manifest", "save_packed",
           "image_path", "load_image"]


def image_sections(packed):
    """``(target, slice, base, words)`` for every memory, in load order."""
    sections = []
    for p, words in enumerate(packed.pe_words):
        for base in range(0, len(words), MAX_SECTION):
            sections.append((Target.PE, p, base, words[base:base + MAX_SECTION]))
    for k in range(packed.columns.shape[1]):
        sections.append((Target.COLUMNS, k, 0, packed.columns[:, k]))
    sections.append((Target.LAYERS, 0, 0, packed.layer_table))
    return [s for s in sections if len(s[3])]


WORD_BYTES = SLICE_BITS // 8
SIZE_PARTS = ("entries", "padding", "tables", "biases", "codebooks")


def image_sizes(packed):
    """Where the bytes of :func:`write_image` go, per layer and in all; they add up to the
    image's length exactly.

    Per layer: ``entries`` (weights and fillers, a byte each), ``padding`` (bytes the PEs walk
    between runs to stay near the column table's shared base, unused bias words of PEs with a
    row fewer, unused words of the layer's table entry), ``tables`` (its column-table rows and
    descriptor), ``biases`` and ``codebooks``. Beside the layers: ``tables`` (the column-table
    row after the last column), ``padding`` (a PE's odd last byte) and ``header`` (the image
    header, the sections' headers and the CRC).
    """
    n, slices = packed.config.pes, column_slices(packed.config.pes)
    layers = []
    for s in packed.stats:
        out_count, in_count = s["shape"]
        layers.append({
            "entries": s["entry_bytes"],
            "padding": s["padding_bytes"] + WORD_BYTES * (
                s["unused_bias_words"] + LAYER_WORDS - DESCRIPTOR_WORDS - CODEBOOK_SIZE),
            "tables": WORD_BYTES * (in_count * slices + DESCRIPTOR_WORDS),
            "biases": WORD_BYTES * out_count,
            "codebooks": WORD_BYTES * CODEBOOK_SIZE,
        })
    entry_bytes = [ENTRIES_PER_WORD * (len(w) - sum(-(-s["shape"][0] // n)
                                                   for s in packed.stats))
                   for w in packed.pe_words]
    laid = sum(layer["entries"] + s["padding_bytes"] for layer, s in zip(layers, packed.stats))
    model = {
        "tables": WORD_BYTES * slices,
        "padding": sum(entry_bytes) - laid,
        "header": WORD_BYTES * (HEADER_WORDS + SECTION_WORDS * len(image_sections(packed))
                                + TRAILER_WORDS),
    }
    total = {part: sum(layer[part] for layer in layers) + model.get(part, 0)
             for part in SIZE_PARTS}
    total["header"] = model["header"]
    return {"bytes": sum(total.values()), "total": total, "layers": layers, "model": model}


def format_sizes(sizes):
    """:func:`image_sizes` as printable lines: the image's bytes by part, then per layer."""
    parts = ", ".join(f"{part} {count:,}" for part, count in sizes["total"].items())
    lines = [f"{sizes['bytes']:,} bytes: {parts}"]
    for i, layer in enumerate(sizes["layers"]):
        lines.append(f"  layer {i}: {sum(layer.values()):,} bytes: "
                     + ", ".join(f"{part} {count:,}" for part, count in layer.items()))
    return "\n".join(lines)


def _needs(packed):
    """What a packed model needs of an engine: the header's fields after the version."""
    cfg = packed.config
    descriptors = [layer_descriptor(packed, i) for i in range(packed.n_layers)]
    return dict(pes=cfg.pes, act_width=cfg.act_width, code_width=cfg.code_width,
                acc_width=cfg.acc_width,
                act_depth=max(max(d["in_count"], d["out_count"]) for d in descriptors),
                layers=packed.n_layers, column_rows=len(packed.columns),
                pe_words=max((len(w) for w in packed.pe_words), default=0),
                in_count=descriptors[0]["in_count"], out_count=descriptors[-1]["out_count"])


def _smallest_engine(header):
    """The smallest engine that holds a model with these header fields."""
    return EngineConfig(pes=header["pes"], act_width=header["act_width"],
                        code_width=header["code_width"], acc_width=header["acc_width"],
                        pe_depth=max(2, header["pe_words"]),
                        col_depth=max(1, header["column_rows"]),
                        act_depth=max(1, header["act_depth"]), max_layers=header["layers"])


def fit_to_engine(packed, cfg):
    """``packed`` for an engine built as ``cfg``: refused (TinyeieError) if packed for other
    parameters or larger than its memories."""
    check_fits_engine(_smallest_engine(_needs(packed)), cfg)
    return replace(packed, config=cfg)


def write_image(packed):
    """The image bytes of a :class:`~tinyeie.sw.compiler.pack.PackedModel`."""
    sections = image_sections(packed)
    words = header_words(**_needs(packed), sections=len(sections))
    for target, slice_, base, data in sections:
        section = pack_bits(SectionHeader, target=target, slice=slice_, base=base,
                            count=len(data))
        words += to_words(section, SECTION_WORDS) + [int(w) for w in data]
    body = np.array(words, dtype="<u2").tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


def _bad(what):
    raise TinyeieError(f"not a valid tinyeie model image: {what}")


def read_image(blob, cfg=None):
    """Check an image and read it back into a :class:`PackedModel`.

    The checks are the board loader's with the model check
    (:func:`tinyeie.contract.image.loader_model`, the structure rules of
    :mod:`tinyeie.contract.structure` included), and the image must end with its trailer. With
    ``cfg`` (the engine it is meant for), an image packed for other parameters or larger than
    that engine's memories is refused; the model returned then carries ``cfg``. Without, it
    carries the parameters the header names, with depths just large enough.
    """
    if len(blob) < 2 * HEADER_WORDS + 4 or len(blob) % 2:
        _bad(f"{len(blob)} bytes is too short or odd (at least {2 * HEADER_WORDS + 4})")
    h = read_header(np.frombuffer(blob[:2 * HEADER_WORDS], dtype="<u2"))
    if h["layers"] < 1:
        _bad("the header declares no layers")
    try:
        packed_for = _smallest_engine(h)
    except TinyeieError as error:
        if blob[:4] != b"TEIE":
            _bad(f"it starts with {blob[:4]!r}, expected b'TEIE'")
        _bad(f"its header names an engine that cannot be built: {error}")
    if cfg is not None:
        check_fits_engine(packed_for, cfg)
    result = loader_model(blob, cfg or packed_for, check_model=True)
    if not result.done:
        _bad("it is cut off before the end of its sections and trailer")
    if result.error == LoaderError.CRC and result.length < len(blob) \
            and zlib.crc32(blob[:-4]) == struct.unpack("<I", blob[-4:])[0]:
        _bad(f"{len(blob) - result.length} bytes follow the last section")
    if not result.ok:
        _bad(result.detail)
    if result.length != len(blob):
        _bad(f"{len(blob) - result.length} bytes follow the trailer")
    layer_table, columns, pe_words = result.memories
    return PackedModel(config=cfg or packed_for, pe_words=pe_words, columns=columns,
                       layer_table=layer_table)


def check_fits_engine(packed_for, cfg):
    """Refuse an image packed for ``packed_for`` on an engine built as ``cfg``."""
    for name in ("pes", "act_width", "code_width", "acc_width"):
        have, need = getattr(cfg, name), getattr(packed_for, name)
        if have != need:
            raise TinyeieError(f"the model image was packed for {name}={need}, the engine has "
                               f"{name}={have}: pack it again with the engine's parameters")
    for name, what in (("pe_depth", "PE memory words"), ("col_depth", "column-table rows"),
                       ("act_depth", "activations per layer"), ("max_layers", "layers")):
        have, need = getattr(cfg, name), getattr(packed_for, name)
        if need > have:
            raise TinyeieError(f"the model does not fit: it needs {need:,} {what}, the engine "
                               f"has {have:,}, {need - have:,} too many ({name})")


def image_path(path):
    """The ``model.bin`` that ``path`` names: the file itself or the one in a `tinyeie pack`
    folder; a TinyeieError if there is none."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    if not path.is_file():
        raise TinyeieError(f"model image {path} does not exist (make one with `tinyeie pack`)")
    return path


#: The largest engine the parameters allow: no model image can be longer than its memories.
_LARGEST_ENGINE = EngineConfig(pes=64, pe_depth=1 << 16, col_depth=1 << 16, act_depth=4095,
                               max_layers=(1 << 16) // 32)


def load_image(path, cfg=None):
    """Read ``model.bin`` (or the ``model.bin`` inside a `tinyeie pack` folder).

    A file longer than any image the engine (``cfg``, else the largest the parameters allow)
    can take is refused before it is read.
    """
    path = image_path(path)
    most = max_image_bytes(cfg or _LARGEST_ENGINE)
    size = path.stat().st_size
    if size > most:
        _bad(f"{path} is {size:,} bytes, longer than the {most:,} of the largest image "
             f"{'the engine' if cfg else 'any engine'} takes")
    return read_image(path.read_bytes(), cfg)


def write_hex(packed, folder):
    """``$readmemh`` files, one per memory: ``pe<p>.hex``, ``columns.hex``, ``layers.hex``.

    A column-table row is one hex number with slice 0 (the pointer) in the low 16 bits.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []

    def put(name, lines):
        path = folder / name
        write_text(path, "".join(f"{line}\n" for line in lines))
        paths.append(path)

    for p, words in enumerate(packed.pe_words):
        put(f"pe{p}.hex", (f"{int(w):04x}" for w in words))
    digits = 4 * packed.columns.shape[1]
    put("columns.hex", (f"{sum(int(w) << 16 * k for k, w in enumerate(row)):0{digits}x}"
                        for row in packed.columns))
    put("layers.hex", (f"{int(w):04x}" for w in packed.layer_table))
    return paths


def manifest(packed, image):
    """What the image holds and how full it leaves each memory, for ``manifest.json``."""
    cfg = packed.config
    pe_words = max(len(w) for w in packed.pe_words)
    return {
        "format": f"tinyeie-image-v{VERSION}",
        "config": cfg.as_dict(),
        "image_bytes": len(image),
        "sizes": image_sizes(packed),
        "row_orders": [order.tolist() for order in packed.orders or []],
        "crc32": f"{struct.unpack('<I', image[-4:])[0]:#010x}",
        "memories": {
            "pe_words": {"used": pe_words, "depth": cfg.pe_depth},
            "column_rows": {"used": len(packed.columns), "depth": cfg.col_depth},
            "layers": {"used": packed.n_layers, "depth": cfg.max_layers},
        },
        "layers": packed.stats,
    }


def save_packed(packed, folder):
    """Write ``model.bin``, ``manifest.json`` and ``mem/*.hex`` into ``folder``; returns the
    path of ``model.bin`` and the manifest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image = write_image(packed)
    contents = manifest(packed, image)
    write_hex(packed, folder / "mem")
    write_text(folder / "manifest.json", json.dumps(contents, indent=2) + "\n")
    write_bytes(folder / "model.bin", image)        # last: the folder's model is whole
    return folder / "model.bin", contents
