"""Compressed model files (``models/*.npz``): the paper's storage format, Huffman coded.

Every parameter layer is stored as

* ``L{i}_codebook`` float32 (k,): shared values, entry 0 exactly 0.0 (pruned weights, fillers);
* ``L{i}_bias`` float32 (out,);
* ``L{i}_wstream`` / ``L{i}_wlens``: the Huffman-coded stream of codebook indices, one per entry
  (real weights and fillers), with the code length of every index symbol as decode table;
* ``L{i}_rstream`` / ``L{i}_rlens``: the Huffman-coded stream of relative indices (zeros skipped
  before each entry, ``rel_bits`` wide), with its decode table.

The entries run over the weights flattened row-major (see :mod:`tinyeie.sw.compress.sparse`).
``meta`` is a JSON string: format name, architecture, per-layer header (name, kind, shape, bits,
rel_bits, entries, wbits, rbits, relu) and the compression history that ``tinyeie report`` plots.
docs/formats.md describes the file for readers outside Python.
"""

import json
import math
import re
from dataclasses import dataclass, field
from math import prod

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.nets import build, check_value_range, parameter_shapes, parse_arch
from tinyeie.sw.compress.quantised import QuantisedLayer, SharedWeights
from tinyeie.sw.compress.sparse import flat_decode, flat_encode
from tinyeie.sw.compress.weight_sharing import INITS
from tinyeie.sw.npzfile import NpzFile
from tinyeie.sw.outputs import atomic_write

from . import huffman

__all__ = ["FORMAT", "CompressedLayer", "CompressedModel", "encode_layer", "load_model",
           "save_model", "save_dense", "layer_names", "read_json", "as_float32", "MAX_META_CHARS"]

FORMAT = "tinyeie-compressed-v1"
REL_BITS_CHOICES = range(2, 9)


def layer_names(arch, count):
    """The paper's layer names: conv1, conv2, ip1, ip2 for LeNet-5; ip1..ipN for an MLP."""
    if arch == "lenet5":
        return ["conv1", "conv2", "ip1", "ip2"]
    return [f"ip{i + 1}" for i in range(count)]


@dataclass
class CompressedLayer(SharedWeights):
    """One layer: its decoded weights and the coded streams they are stored as."""

    name: str
    kind: str
    codebook: np.ndarray
    index: np.ndarray          # uint8, shaped like the weights; 0 = pruned
    bias: np.ndarray
    relu: bool
    bits: int                  # width of a codebook index in the paper format (P+Q)
    rel_bits: int              # width of a relative index in the paper format (P+Q)
    streams: dict = field(repr=False)  # wstream, wlens, wbits, rstream, rlens, rbits, entries

    @property
    def nnz(self):
        return int(np.count_nonzero(self.index))

    @property
    def entries(self):
        return int(self.streams["entries"])

    def as_matrix_layer(self):
        """The layer as a :class:`QuantisedLayer` (a convolution as its (out, in*k*k) matrix)."""
        return QuantisedLayer(codebook=self.codebook,
                              index=self.index.reshape(self.index.shape[0], -1),
                              bias=self.bias, relu=self.relu)


def encode_layer(name, kind, codebook, index, bias, relu, bits=None):
    """Huffman-code a quantised layer, choosing the relative-index width that stores smallest."""
    codebook = np.asarray(codebook, dtype=np.float32)
    index = np.asarray(index, dtype=np.uint8)
    if bits is None:
        bits = max(1, int(np.ceil(np.log2(len(codebook)))))
    best = None
    for rel_bits in REL_BITS_CHOICES:
        v, z = flat_encode(index, rel_bits)
        coded = {}
        for key, symbols, alphabet in (("w", v, 1 << bits), ("r", z, 1 << rel_bits)):
            lens = huffman.code_lengths(np.bincount(symbols, minlength=alphabet))
            packed, nbits = huffman.encode(symbols, lens)
            coded.update({f"{key}stream": packed, f"{key}lens": lens.astype(np.uint8),
                          f"{key}bits": nbits})
        coded["entries"] = len(v)
        size = coded["wbits"] + coded["rbits"] + (len(coded["wlens"]) + len(coded["rlens"])) * 5
        if best is None or size < best[0]:
            best = (size, rel_bits, coded)
    _, rel_bits, coded = best
    return CompressedLayer(name=name, kind=kind, codebook=codebook, index=index,
                           bias=np.asarray(bias, dtype=np.float32), relu=relu, bits=bits,
                           rel_bits=rel_bits, streams=coded)


class CompressedModel:
    """A compressed network: its layers, architecture and the history of how it was made."""

    def __init__(self, arch, layers, history=None):
        self.arch = arch
        self.layers = layers
        self.history = history or {}

    def network(self):
        """A :class:`~tinyeie.sw.compress.nets.Network` carrying the decoded weights."""
        net = build(self.arch)
        net.set_weights([(layer.weights, layer.bias) for layer in self.layers])
        return net

    @property
    def is_mlp(self):
        return self.arch.startswith("mlp:")

    def quantised_layers(self):
        """The layers as :class:`QuantisedLayer` matrices, for the engine (MLPs only)."""
        if not self.is_mlp:
            raise TinyeieError(f"the engine runs fully-connected networks; {self.arch} has "
                               f"convolutions")
        return [layer.as_matrix_layer() for layer in self.layers]

    def dense_arrays(self):
        """``{"w0": ..., "b0": ..., ...}``: the dense float weights the model stands for."""
        arrays = {}
        for i, layer in enumerate(self.layers):
            arrays[f"w{i}"] = layer.weights.astype(np.float32)
            arrays[f"b{i}"] = layer.bias.astype(np.float32)
        return arrays


def save_dense(path, model):
    """Write the dense float weights of ``model`` as ``w0, b0, w1, b1, ...`` (and its ``arch``
    when it is not a plain MLP): the file `tinyeie decompress` writes."""
    arrays = model.dense_arrays()
    if not model.is_mlp:
        arrays["arch"] = np.array(model.arch)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def save_model(path, model):
    arrays = {"format": np.array(FORMAT)}
    header = []
    for i, layer in enumerate(model.layers):
        s = layer.streams
        header.append({"name": layer.name, "kind": layer.kind, "shape": list(layer.shape),
                       "bits": layer.bits, "rel_bits": layer.rel_bits,
                       "entries": int(s["entries"]), "wbits": int(s["wbits"]),
                       "rbits": int(s["rbits"]), "relu": bool(layer.relu)})
        arrays[f"L{i}_codebook"] = layer.codebook.astype(np.float32)
        arrays[f"L{i}_bias"] = layer.bias.astype(np.float32)
        for key in ("wstream", "wlens", "rstream", "rlens"):
            arrays[f"L{i}_{key}"] = np.asarray(s[key], dtype=np.uint8)
    meta = {"format": FORMAT, "arch": model.arch, "layers": header, "history": model.history}
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)


#: The longest meta JSON (layer headers and the compression history) a reader takes.
MAX_META_CHARS = 4 << 20
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_SWEEPS = ("prune_only", "quant_only", "prune_quant")


def load_model(path):
    """Read and check a compressed model file; every problem is a :class:`TinyeieError`.

    Nothing is allocated on the file's word: the meta header is checked for types and against
    the architecture it names, every array's declared dtype and shape against the header, and
    only then is anything decoded (:class:`~tinyeie.sw.npzfile.NpzFile` bounds the
    file itself).
    """
    with NpzFile(path, "compressed model") as npz:
        fmt = npz.text("format", 64) if "format" in npz else ""
        if fmt != FORMAT:
            hint = " (a float model: compress it first)" if "w0" in npz else ""
            raise TinyeieError(f"{path} is not a tinyeie compressed model: format {fmt!r}, "
                               f"expected {FORMAT!r}{hint}")
        if "meta" not in npz:
            raise TinyeieError(f"{path} is not a complete tinyeie compressed model: array "
                               f"'meta' is missing")
        meta = read_json(npz.text("meta", MAX_META_CHARS), f"{path}: its meta header")
        arch, headers, history = _check_meta(meta, path)
        layers = [_load_layer(npz, i, h, path) for i, h in enumerate(headers)]
    check_value_range(arch, [(np.abs(layer.codebook).max(), np.abs(layer.bias).max(initial=0))
                             for layer in layers], str(path))
    model = CompressedModel(arch, layers, history)
    try:
        model.network()
    except TinyeieError as e:
        raise TinyeieError(f"{path}: the layers do not fit {arch}: {e}") from None
    return model


def read_json(text, where):
    """``text`` parsed as a JSON object, or a TinyeieError saying why not."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        reason = str(e) if isinstance(e, ValueError) else "nested too deeply"
        raise TinyeieError(f"{where} is not valid JSON ({reason[:120]})") from None
    if not isinstance(value, dict):
        raise TinyeieError(f"{where} must be a JSON object, not {_json_type(value)}")
    return value


def as_float32(array, where):
    """``array`` as float32, every value finite after the cast (a float64 1e300 is Inf as
    float32, so the check comes after it), or a TinyeieError."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(out)):
        raise TinyeieError(f"{where} holds values that are NaN or Inf as float32 (finite "
                           f"values up to {np.finfo(np.float32).max:.3g} in size are allowed)")
    return out


def _json_type(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _field(record, key, kind, where, check=None, expect=""):
    """``record[key]`` if it is of JSON type ``kind`` (and passes ``check``), else a
    TinyeieError naming the field, the value seen and what it should be."""
    if not isinstance(record, dict) or key not in record:
        raise TinyeieError(f"{where}: field {key!r} is missing")
    value = record[key]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok or (check is not None and not check(value)):
        shown = json.dumps(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise TinyeieError(f"{where}: {key} is {shown}, expected {expect or kind.__name__}")
    return value


def _number(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= 1 << 53
    return isinstance(value, float) and math.isfinite(value)


def _numbers(value):
    return isinstance(value, list) and all(_number(v) for v in value)


def _check_meta(meta, path):
    """``(arch, layer headers, history)`` of a meta header whose every field the readers use has
    its JSON type and range, and whose layers are the ones the architecture has."""
    where = f"{path}: meta"
    name = _field(meta, "arch", str, where)
    try:
        arch = parse_arch(name)
        shapes = parameter_shapes(arch)
    except TinyeieError as e:
        raise TinyeieError(f"{where}: {e}") from None
    headers = _field(meta, "layers", list, where, expect="a list of layer headers")
    if len(headers) != len(shapes):
        raise TinyeieError(f"{where} lists {len(headers)} layers, {arch} has {len(shapes)}")
    for i, (h, (kind, shape)) in enumerate(zip(headers, shapes)):
        _check_layer_header(h, kind, shape, i == len(shapes) - 1, f"{where}: layer {i}")
    history = meta.get("history", {})
    _check_history(history, len(shapes), f"{where}: history")
    return arch, headers, history


def _check_layer_header(h, kind, shape, last, where):
    if not isinstance(h, dict):
        raise TinyeieError(f"{where} must be an object of header fields, not {_json_type(h)}")
    _field(h, "name", str, where, _NAME.fullmatch, "a name of letters, digits, _ and -")
    _field(h, "kind", str, where, lambda v: v == kind, repr(kind))
    _field(h, "shape", list, where, lambda v: v == list(shape), f"{list(shape)} (the arch's)")
    _field(h, "bits", int, where, lambda v: 1 <= v <= 8, "an integer 1..8")
    _field(h, "rel_bits", int, where, lambda v: 1 <= v <= 8, "an integer 1..8")
    weights = prod(shape)
    entries = _field(h, "entries", int, where, lambda v: 0 <= v <= weights,
                     f"an integer 0..{weights} (the layer's weights)")
    most = entries * huffman.MAX_CODE_LENGTH
    for key in ("wbits", "rbits"):
        _field(h, key, int, where, lambda v: entries <= v <= most,
               f"an integer {entries}..{most} ({entries} codes of 1..{huffman.MAX_CODE_LENGTH} "
               f"bits)")
    _field(h, "relu", bool, where, lambda v: v == (not last),
           "true on every layer but the last" if not last else "false on the last layer")


def _check_history(history, n_layers, where):
    """The parts of the compression history that `tinyeie stats` and `report` read."""
    if not isinstance(history, dict):
        raise TinyeieError(f"{where} must be an object, not {_json_type(history)}")
    if "float_test_error" in history:
        _field(history, "float_test_error", (int, float), where, _number, "a number")
    for i, dist in enumerate(_field(history, "layers", list, where)[:n_layers]
                             if "layers" in history else []):
        at = f"{where}: layers[{i}]"
        counts = _field(dist, "hist_counts", list, at, _numbers, "a list of numbers")
        _field(dist, "hist_edges", list, at,
               lambda v, n=len(counts) + 1: _numbers(v) and len(v) == n,
               f"a list of {len(counts) + 1} numbers (one more than hist_counts)")
        for key in ("codebook_initial", "codebook_finetuned"):
            _field(dist, key, list, at, _numbers, "a list of numbers")
        if "inits" in dist:
            _field(dist, "inits", dict, at,
                   lambda v: all(k in INITS and _numbers(c) for k, c in v.items()),
                   f"an object of {', '.join(INITS)} to lists of numbers")
    if "sweep" in history:
        sweep = _field(history, "sweep", dict, where, lambda v: set(v) <= set(_SWEEPS),
                       f"an object of {', '.join(_SWEEPS)}")
        for key in sweep:
            _field(sweep, key, list, f"{where}: sweep", lambda v: all(
                _numbers(p) and len(p) == 2 and p[0] > 0 for p in v),
                "a list of [compression rate > 0, error] pairs")


def _array(npz, name, path, check, expect):
    """The header of array ``name``, checked by ``check(header)`` before its data is read."""
    if name not in npz:
        raise TinyeieError(f"{path} is not a complete tinyeie compressed model: array {name!r} "
                           f"is missing")
    header = npz.header(name)
    if not check(header):
        raise TinyeieError(f"{path}: {name} is {header.describe()}, expected {expect}")
    return header


def _load_layer(npz, i, h, path):
    where = f"{path}: layer {i} ({h['name']})"
    bits, rel_bits, shape = h["bits"], h["rel_bits"], tuple(h["shape"])
    stream_bytes = {"w": -(-h["wbits"] // 8), "r": -(-h["rbits"] // 8)}
    _array(npz, f"L{i}_codebook", path,
           lambda a: a.dtype.kind == "f" and len(a.shape) == 1 and 1 <= a.shape[0] <= 1 << bits,
           f"floats (k,) with k 1..{1 << bits} ({bits}-bit indices)")
    _array(npz, f"L{i}_bias", path, lambda a: a.dtype.kind == "f" and a.shape == shape[:1],
           f"floats ({shape[0]},), one per output")
    for key, width in (("w", bits), ("r", rel_bits)):
        _array(npz, f"L{i}_{key}lens", path,
               lambda a, n=1 << width: a.dtype == np.uint8 and a.shape == (n,),
               f"uint8 ({1 << width},), a code length per symbol")
        _array(npz, f"L{i}_{key}stream", path,
               lambda a, n=stream_bytes[key]: a.dtype == np.uint8 and a.shape == (n,),
               f"uint8 ({stream_bytes[key]},), the {h[key + 'bits']} bits the header declares")
    # Declared sizes all agree and are bounded: the data can be read and decoded.
    codebook = as_float32(npz.read(f"L{i}_codebook"), f"{where}: codebook")
    bias = as_float32(npz.read(f"L{i}_bias"), f"{where}: bias")
    if codebook[0] != 0.0:
        raise TinyeieError(f"{where}: codebook entry 0 must be 0.0 (the pruned weight), not "
                           f"{codebook[0]}")
    entries = h["entries"]
    streams = {"entries": entries}
    for key in ("w", "r"):
        streams[f"{key}stream"] = npz.read(f"L{i}_{key}stream")
        streams[f"{key}lens"] = npz.read(f"L{i}_{key}lens")
        streams[f"{key}bits"] = h[f"{key}bits"]
    try:
        v = huffman.decode(streams["wstream"], h["wbits"], streams["wlens"], entries)
        z = huffman.decode(streams["rstream"], h["rbits"], streams["rlens"], entries)
        if len(v) and int(v.max()) >= len(codebook):
            raise TinyeieError(f"index {int(v.max())} outside the codebook of {len(codebook)} "
                               f"entries")
        index = flat_decode(v, z, rel_bits, shape)
    except TinyeieError as e:
        raise TinyeieError(f"{where}: {e}") from None
    return CompressedLayer(name=h["name"], kind=h["kind"], codebook=codebook, index=index,
                           bias=bias, relu=h["relu"], bits=bits, rel_bits=rel_bits,
                           streams=streams)
