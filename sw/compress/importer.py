"""A user's trained MLP into a float :class:`~tinyeie.sw.compress.nets.Network`, whatever it came
in: what ``tinyeie compress`` reads.

* ``.onnx``: as ``torch.onnx.export`` and skl2onnx write MLPs (:mod:`.onnx_import`);
* ``.npz`` from ``tinyeie train`` (it names its ``arch``): :func:`.floatfile.load_float`;
* any other ``.npz`` of arrays ``w0, b0, w1, b1, ...``: the weights in PyTorch's (out, in)
  layout or Keras's and scikit-learn's (in, out). The layout is read from the shapes when only
  one of the two chains (``--layout`` says it when both would).

Every hidden layer is followed by a ReLU, the last gives the logits.
"""

from pathlib import Path

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.floatfile import load_float, weight_layers
from tinyeie.sw.compress.nets import build, parse_arch
from tinyeie.sw.npzfile import read_npz

__all__ = ["LAYOUTS", "import_network", "arrays_layout"]

LAYOUTS = {"out-in": "(out, in), as PyTorch stores nn.Linear weights",
           "in-out": "(in, out), as Keras and scikit-learn store them"}


def import_network(path, layout=None):
    """Read the MLP in ``path``: returns ``(network, meta, notes)``.

    ``layout`` (``"out-in"`` or ``"in-out"``) settles how ``w_i`` arrays are laid out when
    their shapes do not. ``notes`` are lines to tell the user (what was dropped or assumed).
    """
    path = Path(path)
    if layout is not None and layout not in LAYOUTS:
        raise TinyeieError(f"--layout must be out-in or in-out, not {layout!r}")
    if path.suffix.lower() == ".onnx":
        from tinyeie.sw.compress.onnx_import import read_onnx
        if layout is not None:
            raise TinyeieError("--layout is for .npz weight arrays; an ONNX file says its own")
        mlp = read_onnx(path)
        return _network(mlp.layers), {"source": path.name}, mlp.notes
    arrays = read_npz(path, "float model")
    if "arch" in arrays:
        if layout not in (None, "out-in"):
            raise TinyeieError(f"{path} comes from `tinyeie train` (it names its arch), whose "
                               f"weights are (out, in): leave out --layout")
        net, meta = load_float(path)
        return net, meta, []
    pairs = _weight_arrays(path, arrays)
    chosen, note = arrays_layout(path, [w.shape for w, _ in pairs],
                                 [b.shape for _, b in pairs], layout)
    if chosen == "in-out":
        pairs = [(w.T, b) for w, b in pairs]
    return _network(pairs), {"source": path.name, "layout": chosen}, [note] if note else []


def _weight_arrays(path, arrays):
    pairs = []
    for i in range(weight_layers(path, arrays)):
        w, b = np.asarray(arrays[f"w{i}"]), np.asarray(arrays[f"b{i}"])
        for name, a in ((f"w{i}", w), (f"b{i}", b)):
            if a.dtype.kind != "f":
                raise TinyeieError(f"{path}: {name} has dtype {a.dtype}, expected floats")
            if not np.all(np.isfinite(a)):
                raise TinyeieError(f"{path}: {name} contains NaN or Inf values")
        if w.ndim != 2 or b.ndim != 1:
            raise TinyeieError(f"{path}: w{i} is shaped {w.shape} and b{i} {b.shape}; an MLP "
                               f"layer is a matrix and a vector")
        pairs.append((w, b))
    return pairs


def _chains(w_shapes, b_shapes, layout):
    """None if the shapes chain when read in ``layout``, else why not."""
    ins_outs = [(s[1], s[0]) if layout == "out-in" else s for s in w_shapes]
    for i, ((n_in, n_out), b) in enumerate(zip(ins_outs, b_shapes)):
        if b != (n_out,):
            return f"w{i} then gives {n_out} outputs but b{i} has {b[0]} values"
        if i and n_in != ins_outs[i - 1][1]:
            return (f"w{i} then takes {n_in} inputs but w{i - 1} gives {ins_outs[i - 1][1]}: "
                    f"shapes must chain")
    return None


def arrays_layout(path, w_shapes, b_shapes, layout=None):
    """The layout (``"out-in"`` or ``"in-out"``) that makes the shapes chain, and a note to
    print (or None); a TinyeieError when neither does or, without ``layout``, both do.

    A bias has one value per output, so both layouts chain only when every matrix is square:
    then nothing in the file tells them apart."""
    w_shapes, b_shapes = [tuple(s) for s in w_shapes], [tuple(s) for s in b_shapes]
    why = {name: _chains(w_shapes, b_shapes, name) for name in LAYOUTS}
    if layout is not None:
        if why[layout]:
            other = next(n for n in LAYOUTS if n != layout)
            hint = f" (they do as --layout {other})" if not why[other] else ""
            raise TinyeieError(f"{path}: read as --layout {layout}, {why[layout]}{hint}")
        return layout, None
    fitting = [name for name in LAYOUTS if why[name] is None]
    if not fitting:
        raise TinyeieError(f"{path}: the weight shapes ({', '.join(map(str, w_shapes))}) chain "
                           f"in neither layout: as (out, in) {why['out-in']}; as (in, out) "
                           f"{why['in-out']}")
    if len(fitting) == 2:
        raise TinyeieError(f"{path}: the weight shapes ({', '.join(map(str, w_shapes))}) fit "
                           f"both layouts: say which with --layout out-in (PyTorch) or "
                           f"--layout in-out (Keras, scikit-learn)")
    chosen = fitting[0]
    return chosen, f"read the weights as {LAYOUTS[chosen]}, the layout their shapes fit"


def _network(pairs):
    sizes = [pairs[0][0].shape[1]] + [w.shape[0] for w, _ in pairs]
    net = build(parse_arch("mlp:" + "-".join(map(str, sizes))))
    net.set_weights([(np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in pairs])
    return net
