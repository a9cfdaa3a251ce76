"""Dense float model files: the output of ``tinyeie train`` and ``tinyeie decompress``.

An ``.npz`` with arrays ``w0, b0, w1, b1, ...`` (``w_i`` shaped (out, in) for a fully connected
layer, (out, in, k, k) for a convolution) and an optional string ``arch`` naming the network.
A file without ``arch`` whose weights are 2-D matrices chaining 784 -> ... -> 10 is read as an
MLP: ``relu(w_i @ a + b_i)`` on all but the last layer, input the 784 pixels in [0, 1).
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.nets import build, parse_arch

__all__ = ["save_float", "load_float", "read_npz"]


def read_npz(path, what):
    """All arrays of an ``.npz`` file as a dict, or a TinyeieError saying why it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise TinyeieError(f"{what} {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise TinyeieError(f"{what} {path} is not a readable .npz file ({e})") from None


def save_float(path, net, meta=None):
    """Write a trained :class:`~tinyeie.sw.compress.nets.Network` with its ``arch`` and JSON
    ``meta``."""
    arrays = {}
    for i, (w, b) in enumerate(net.get_weights()):
        arrays[f"w{i}"] = w
        arrays[f"b{i}"] = b
    arrays["arch"] = np.array(net.arch)
    arrays["meta"] = np.array(json.dumps(meta or {}))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_float(path):
    """Read a dense float model: returns ``(network, meta)`` with the weights loaded."""
    data = read_npz(path, "float model")
    n = 0
    while f"w{n}" in data:
        n += 1
    if n == 0:
        raise TinyeieError(f"{path} holds no weights: expected arrays w0, b0, w1, b1, ... "
                           f"(found {sorted(data)[:6]})")
    weights = []
    for i in range(n):
        if f"b{i}" not in data:
            raise TinyeieError(f"{path} has w{i} but no b{i}")
        w = np.asarray(data[f"w{i}"])
        b = np.asarray(data[f"b{i}"])
        for name, a in ((f"w{i}", w), (f"b{i}", b)):
            if a.dtype.kind != "f":
                raise TinyeieError(f"{path}: {name} has dtype {a.dtype}, expected floats")
            if not np.all(np.isfinite(a)):
                raise TinyeieError(f"{path}: {name} contains NaN or Inf values")
        weights.append((w.astype(np.float32), b.astype(np.float32)))
    if "arch" in data:
        arch = parse_arch(str(data["arch"]))
    else:
        arch = _infer_mlp(path, weights)
    net = build(arch)
    net.set_weights(weights)
    meta = json.loads(str(data["meta"])) if "meta" in data else {}
    return net, meta


def _infer_mlp(path, weights):
    sizes = []
    for i, (w, _) in enumerate(weights):
        if w.ndim != 2:
            raise TinyeieError(f"{path}: w{i} has shape {w.shape}; without an 'arch' entry "
                               f"every w_i must be a 2-D (out, in) matrix")
        if sizes and w.shape[1] != sizes[-1]:
            raise TinyeieError(f"{path}: w{i} takes {w.shape[1]} inputs but w{i - 1} gives "
                               f"{sizes[-1]} outputs; shapes must chain")
        if not sizes:
            sizes.append(w.shape[1])
        sizes.append(w.shape[0])
    return parse_arch("mlp:" + "-".join(map(str, sizes)))
