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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.floatfile import read_npz
from tinyeie.sw.compress.nets import build, parse_arch
from tinyeie.sw.compress.quantised import QuantisedLayer, SharedWeights
from tinyeie.sw.compress.sparse import flat_decode, flat_encode

from . import huffman

__all__ = ["FORMAT", "CompressedLayer", "CompressedModel", "encode_layer", "load_model",
           "save_model", "save_dense", "layer_names"]

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
    with open(path, "wb") as f:
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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def _require(data, key, path):
    if key not in data:
        raise TinyeieError(f"{path} is not a complete tinyeie compressed model: array {key!r} "
                           f"is missing")
    return data[key]


def load_model(path):
    """Read and check a compressed model file; every problem is a :class:`TinyeieError`."""
    data = read_npz(path, "compressed model")
    fmt = str(data.get("format", ""))
    if fmt != FORMAT:
        hint = " (a float model: compress it first)" if "w0" in data else ""
        raise TinyeieError(f"{path} is not a tinyeie compressed model: format {fmt!r}, "
                           f"expected {FORMAT!r}{hint}")
    try:
        meta = json.loads(str(_require(data, "meta", path)))
        arch = parse_arch(meta["arch"])
        header = meta["layers"]
    except (ValueError, KeyError, TypeError) as e:
        raise TinyeieError(f"{path}: its meta header is unreadable ({e})") from None
    layers = []
    for i, h in enumerate(header):
        try:
            layers.append(_load_layer(data, i, h, path))
        except (KeyError, TypeError, ValueError) as e:
            raise TinyeieError(f"{path}: layer {i} header is malformed ({e})") from None
    model = CompressedModel(arch, layers, meta.get("history", {}))
    try:
        model.network()
    except TinyeieError as e:
        raise TinyeieError(f"{path}: the layers do not fit {arch}: {e}") from None
    return model


def _load_layer(data, i, h, path):
    where = f"{path}: layer {i} ({h['name']})"
    codebook = np.asarray(_require(data, f"L{i}_codebook", path))
    bias = np.asarray(_require(data, f"L{i}_bias", path))
    for name, a in (("codebook", codebook), ("bias", bias)):
        if a.dtype.kind != "f" or a.ndim != 1:
            raise TinyeieError(f"{where}: {name} must be a float vector, got {a.dtype} "
                               f"{a.shape}")
        if not np.all(np.isfinite(a)):
            raise TinyeieError(f"{where}: {name} contains NaN or Inf values")
    if len(codebook) == 0 or codebook[0] != 0.0:
        raise TinyeieError(f"{where}: codebook entry 0 must be 0.0 (the pruned weight)")
    bits, rel_bits = int(h["bits"]), int(h["rel_bits"])
    if len(codebook) > 1 << bits:
        raise TinyeieError(f"{where}: codebook has {len(codebook)} entries, more than "
                           f"{bits}-bit indices can address")
    shape = tuple(int(s) for s in h["shape"])
    if bias.shape != (shape[0],):
        raise TinyeieError(f"{where}: bias has {bias.shape} values, the layer has {shape[0]} "
                           f"outputs")
    entries = int(h["entries"])
    wlens = _require(data, f"L{i}_wlens", path)
    rlens = _require(data, f"L{i}_rlens", path)
    if len(wlens) != 1 << bits or len(rlens) != 1 << rel_bits:
        raise TinyeieError(f"{where}: decode tables have {len(wlens)} and {len(rlens)} "
                           f"entries, expected {1 << bits} and {1 << rel_bits}")
    wstream = _require(data, f"L{i}_wstream", path)
    rstream = _require(data, f"L{i}_rstream", path)
    v = huffman.decode(wstream, int(h["wbits"]), wlens, entries)
    z = huffman.decode(rstream, int(h["rbits"]), rlens, entries)
    if len(v) and int(v.max()) >= len(codebook):
        raise TinyeieError(f"{where}: index {int(v.max())} outside the codebook of "
                           f"{len(codebook)} entries")
    index = flat_decode(v, z, rel_bits, shape)
    streams = {"wstream": wstream, "wlens": wlens, "wbits": int(h["wbits"]),
               "rstream": rstream, "rlens": rlens, "rbits": int(h["rbits"]), "entries": entries}
    return CompressedLayer(name=h["name"], kind=h["kind"], codebook=codebook.astype(np.float32),
                           index=index, bias=bias.astype(np.float32), relu=bool(h["relu"]),
                           bits=bits, rel_bits=rel_bits, streams=streams)
