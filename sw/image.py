"""The binary model image (``model.bin``): every engine memory's contents, checked by a CRC-32.

The form a board loads at run time (from SPI flash or over UART) and the cocotb testbenches
replay into the engine's write port. Everything is little-endian 16-bit words:

* header, 16 words: ``b"TEIE"`` (2 words), version, the engine parameters it was packed for
  (pes, act_width, code_width, acc_width), what it needs of the memories (act_depth, layers,
  column rows, PE words as 2 words), the number of sections, the model's input count (layer 0)
  and output count (last layer), 1 reserved zero;
* sections, each ``[target | slice << 8, base, count]`` then ``count`` data words, written to
  words ``base .. base + count - 1`` of the memory ``(target, slice)`` names (docs/engine.md,
  "Write port");
* trailer: ``zlib.crc32`` of every byte before it, as 2 words (low, high).
"""

import json
import struct
import zlib
from pathlib import Path

import numpy as np

from ..hw.layouts import LAYER_WORDS, Target, column_slices
from .config import EngineConfig
from .errors import TinyeieError
from .pack import PackedModel, layer_descriptor

__all__ = ["MAGIC", "VERSION", "HEADER_WORDS", "write_image", "read_image", "image_sections",
           "write_hex", "manifest", "save_packed", "load_image"]

MAGIC = b"TEIE"
VERSION = 2             # 2: runs end by next_last and the column table's single mask
HEADER_WORDS = 16
SECTION_WORDS = 3
MAX_SECTION = 0xFFFF


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


def _header(packed, n_sections):
    cfg = packed.config
    pe_words = max((len(w) for w in packed.pe_words), default=0)
    descriptors = [layer_descriptor(packed, i) for i in range(packed.n_layers)]
    act_depth = max(max(d["in_count"], d["out_count"]) for d in descriptors)
    return [*struct.unpack("<2H", MAGIC), VERSION, cfg.pes, cfg.act_width, cfg.code_width,
            cfg.acc_width, act_depth, packed.n_layers, len(packed.columns), pe_words & 0xFFFF,
            pe_words >> 16, n_sections, descriptors[0]["in_count"],
            descriptors[-1]["out_count"], 0]


def write_image(packed):
    """The image bytes of a :class:`~tinyeie.sw.pack.PackedModel`."""
    sections = image_sections(packed)
    words = _header(packed, len(sections))
    for target, slice_, base, data in sections:
        words += [target | slice_ << 8, base, len(data), *map(int, data)]
    body = np.array(words, dtype="<u2").tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


def _bad(what):
    raise TinyeieError(f"not a valid tinyeie model image: {what}")


def read_image(blob, cfg=None):
    """Check an image and read it back into a :class:`PackedModel`.

    With ``cfg`` (the engine it is meant for), also refuse an image packed for other
    parameters or larger than that engine's memories; the model returned then carries ``cfg``.
    Without, it carries the parameters the header names, with depths just large enough.
    """
    if len(blob) < 2 * HEADER_WORDS + 4 or len(blob) % 2:
        _bad(f"{len(blob)} bytes is too short or odd (at least {2 * HEADER_WORDS + 4})")
    if blob[:4] != MAGIC:
        _bad(f"it starts with {blob[:4]!r}, expected {MAGIC!r}")
    crc_stored = struct.unpack("<I", blob[-4:])[0]
    crc = zlib.crc32(blob[:-4])
    if crc != crc_stored:
        _bad(f"CRC-32 is {crc:#010x} but the image says {crc_stored:#010x} (corrupted)")
    words = np.frombuffer(blob[:-4], dtype="<u2").astype(np.int64)
    (_, _, version, pes, act_width, code_width, acc_width, act_depth, n_layers, col_rows,
     pe_lo, pe_hi, n_sections, in_count, out_count) = words[:15]
    if version != VERSION:
        _bad(f"version {version}, this tinyeie reads version {VERSION}")
    if n_layers < 1:
        _bad("the header declares no layers")
    packed_for = EngineConfig(pes=int(pes), act_width=int(act_width), code_width=int(code_width),
                              acc_width=int(acc_width), pe_depth=max(2, int(pe_lo | pe_hi << 16)),
                              col_depth=max(1, int(col_rows)), act_depth=max(1, int(act_depth)),
                              max_layers=max(1, int(n_layers)))
    if cfg is not None:
        check_fits_engine(packed_for, cfg)
    slices = column_slices(int(pes))
    pe_words = [np.zeros(packed_for.pe_depth if pe_lo | pe_hi << 16 else 0, np.uint16)
                for _ in range(pes)]
    columns = np.zeros((col_rows, slices), np.uint16)
    layer_table = np.zeros(n_layers * LAYER_WORDS, np.uint16)
    at = HEADER_WORDS
    for s in range(n_sections):
        if at + SECTION_WORDS > len(words):
            _bad(f"section {s} of {n_sections} is cut off")
        kind, base, count = words[at:at + SECTION_WORDS]
        target, slice_ = kind & 0xFF, kind >> 8
        data = words[at + SECTION_WORDS:at + SECTION_WORDS + count]
        if len(data) != count:
            _bad(f"section {s} promises {count} words, {len(data)} follow")
        if target == Target.PE and slice_ < pes:
            memory = pe_words[slice_]
        elif target == Target.COLUMNS and slice_ < slices:
            memory = columns[:, slice_]
        elif target == Target.LAYERS and slice_ == 0:
            memory = layer_table
        else:
            _bad(f"section {s} targets memory {target}, slice {slice_}, which a {pes}-PE "
                 f"engine does not have")
        if base + count > len(memory):
            _bad(f"section {s} writes words {base}..{base + count - 1}, past the "
                 f"{len(memory)} its header declares")
        memory[base:base + count] = data
        at += SECTION_WORDS + count
    if at != len(words):
        _bad(f"{len(words) - at} words follow the last section")
    packed = PackedModel(config=cfg or packed_for, pe_words=pe_words, columns=columns,
                         layer_table=layer_table)
    first, final = layer_descriptor(packed, 0), layer_descriptor(packed, n_layers - 1)
    if (first["in_count"], final["out_count"]) != (in_count, out_count):
        _bad(f"the header says {in_count} inputs and {out_count} outputs, the layers "
             f"{first['in_count']} and {final['out_count']}")
    return packed


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
            raise TinyeieError(f"the model needs {need:,} {what}, the engine has {have:,}")


def load_image(path, cfg=None):
    """Read ``model.bin`` (or the ``model.bin`` inside a `tinyeie pack` folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    if not path.is_file():
        raise TinyeieError(f"model image {path} does not exist (make one with `tinyeie pack`)")
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
        path.write_text("".join(f"{line}\n" for line in lines))
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
        "format": "tinyeie-image-v1",
        "config": cfg.as_dict(),
        "image_bytes": len(image),
        "crc32": f"{struct.unpack('<I', image[-4:])[0]:#010x}",
        "memories": {
            "pe_words": {"used": pe_words, "depth": cfg.pe_depth},
            "column_rows": {"used": len(packed.columns), "depth": cfg.col_depth},
            "layers": {"used": packed.n_layers, "depth": cfg.max_layers},
        },
        "layers": packed.stats,
    }


def save_packed(packed, folder):
    """Write ``model.bin``, ``manifest.json`` and ``mem/*.hex`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image = write_image(packed)
    (folder / "model.bin").write_bytes(image)
    (folder / "manifest.json").write_text(json.dumps(manifest(packed, image), indent=2) + "\n")
    write_hex(packed, folder / "mem")
    return folder / "model.bin"
