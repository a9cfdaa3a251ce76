"""Dense float model files: the output of ``tinyeie train`` and ``tinyeie decompress``.

An ``.npz`` with arrays ``w0, b0, w1, b1, ...`` (``w_i`` shaped (out, in) for a fully connected
layer, (out, in, k, k) for a convolution) and an optional string ``arch`` naming the network.
A file without ``arch`` whose weights are 2-D matrices chaining 784 -> ... -> 10 is read as an
MLP: ``relu(w_i @ a + b_i)`` on all but the last layer, input the 784 pixels in [0, 1).
"""

import json

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.modelfile import MAX_META_CHARS, as_float32, read_json
from tinyeie.sw.compress.nets import (
    MAX_ARCH_CHARS,
    build,
    check_value_range,
    parameter_shapes,
    parse_arch,
)
from tinyeie.sw.npzfile import NpzFile
from tinyeie.sw.outputs import atomic_write

__all__ = ["save_float", "load_float", "weight_layers"]


def save_float(path, net, meta=None):
    """Write a trained :class:`~tinyeie.sw.compress.nets.Network` with its ``arch`` and JSON
    ``meta``."""
    arrays = {}
    for i, (w, b) in enumerate(net.get_weights()):
        arrays[f"w{i}"] = w
        arrays[f"b{i}"] = b
    arrays["arch"] = np.array(net.arch)
    arrays["meta"] = np.array(json.dumps(meta or {}))
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def weight_layers(path, names):
    """How many layers the arrays ``names`` hold: ``w0, b0, w1, b1, ...``, each ``w_i`` with
    its ``b_i``."""
    count = 0
    while f"w{count}" in names:
        count += 1
    if count == 0:
        raise TinyeieError(f"{path} holds no weights: expected arrays w0, b0, w1, b1, ... "
                           f"(found {', '.join(sorted(names)[:6]) or 'nothing'})")
    for i in range(count):
        if f"b{i}" not in names:
            raise TinyeieError(f"{path} has w{i} but no b{i}")
    return count


def load_float(path):
    """Read a dense float model: returns ``(network, meta)`` with the weights loaded.

    Every array's declared dtype and shape is checked against the architecture (named by
    ``arch``, or the MLP the weights chain into) before any weight is read.
    """
    with NpzFile(path, "float model") as npz:
        n = weight_layers(path, npz.names)
        headers = []
        for i in range(n):
            for name in (f"w{i}", f"b{i}"):
                if npz.header(name).dtype.kind != "f":
                    raise TinyeieError(f"{path}: {name} has dtype {npz.header(name).dtype}, "
                                       f"expected floats")
            headers.append((npz.header(f"w{i}").shape, npz.header(f"b{i}").shape))
        if "arch" in npz:
            arch = parse_arch(npz.text("arch", MAX_ARCH_CHARS))
        else:
            arch = _infer_mlp(path, [w for w, _ in headers])
        shapes = parameter_shapes(arch)
        if len(shapes) != n:
            raise TinyeieError(f"{arch} has {len(shapes)} weight layers, {path} has {n}")
        for i, ((w, b), (_, want)) in enumerate(zip(headers, shapes)):
            if w != want or b != want[:1]:
                raise TinyeieError(f"{path}: layer {i} of {arch}: weights {w} and bias {b}, "
                                   f"expected {want} and {want[:1]}")
        weights = []
        for i in range(n):
            pair = []
            for name in (f"w{i}", f"b{i}"):
                pair.append(as_float32(npz.read(name), f"{path}: {name}"))
            weights.append(tuple(pair))
        meta = (read_json(npz.text("meta", MAX_META_CHARS), f"{path}: its meta")
                if "meta" in npz else {})
    check_value_range(arch, [(np.abs(w).max(initial=0), np.abs(b).max(initial=0))
                             for w, b in weights], str(path))
    net = build(arch)
    net.set_weights(weights)
    return net, meta


def _infer_mlp(path, shapes):
    sizes = []
    for i, shape in enumerate(shapes):
        if len(shape) != 2:
            raise TinyeieError(f"{path}: w{i} has shape {shape}; without an 'arch' entry "
                               f"every w_i must be a 2-D (out, in) matrix")
        if sizes and shape[1] != sizes[-1]:
            raise TinyeieError(f"{path}: w{i} takes {shape[1]} inputs but w{i - 1} gives "
                               f"{sizes[-1]} outputs; shapes must chain")
        if not sizes:
            sizes.append(shape[1])
        sizes.append(shape[0])
    return parse_arch("mlp:" + "-".join(map(str, sizes)))
