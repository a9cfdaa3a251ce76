"""Reading an MLP from an ONNX file, as ``torch.onnx.export`` and skl2onnx write them.

What the engine runs is a chain of fully connected layers with a ReLU after every hidden one,
so that is what is read, in the shapes the two exporters give it:

* ``torch.onnx.export`` (TorchScript): ``Flatten``, then ``Gemm`` (``transB=1``, the weight
  ``fc.weight`` shaped (out, in), bias ``fc.bias``) and ``Relu``; for inputs of more than two
  dimensions ``MatMul`` with a transposed copy of the weight (``onnx::MatMul_N``, (in, out)) and
  ``Add`` with the bias, in either order. The dynamo exporter writes ``MatMul`` of
  ``Transpose(fc.weight)``, then ``Add``, and flattens with ``Reshape``.
* skl2onnx's MLPClassifier (default options): ``Cast`` of the input, ``MatMul`` with
  ``coefficient`` (in, out), ``Add`` of ``intercepts`` (1, out), ``Relu``; after the last layer
  ``Softmax`` and the classifier's tail (``Identity``, ``ArgMax``, ``ArrayFeatureExtractor``,
  ``Reshape``, ``Cast``, ``ZipMap``), which turns logits into labels and probabilities and is
  no part of the network: it is dropped with a note, since the class is the largest logit
  either way.

Weights may be initializers or ``Constant`` nodes, seen through ``Transpose``, ``Identity`` and
``Cast``. ``Identity``, ``Dropout`` (inference), ``Flatten``, ``Reshape`` and ``Cast`` to a float
type pass activations through; ``Shape`` and what computes from it only feed ``Reshape``. Any
other operation on the way is refused, in one line naming it.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyeie.contract.errors import TinyeieError

__all__ = ["OnnxMLP", "read_onnx"]

PASS_THROUGH = {"Identity", "Dropout", "Flatten", "Reshape", "Cast"}
# Where a classifier's tail starts, and what it may hold: none of it changes the class.
TAIL_START = {"Softmax", "LogSoftmax", "ArgMax"}
TAIL_OPS = TAIL_START | {"Identity", "ArrayFeatureExtractor", "ZipMap", "Cast", "Reshape",
                         "Flatten", "Squeeze", "Shape", "Gather", "Concat", "Unsqueeze"}
RUNS = "it runs MLPs: Gemm, or MatMul and Add, with Relu between the layers"


@dataclass
class OnnxMLP:
    """The layers read: ``(weight (out, in), bias (out,))`` each, float32, a ReLU after all but
    the last; ``notes`` say what was dropped on the way."""

    layers: list
    notes: list = field(default_factory=list)


class _Graph:
    """The graph's nodes indexed by the values they produce and take, and its constants."""

    def __init__(self, path, graph):
        from onnx import numpy_helper

        self.path = path
        self.nodes = list(graph.node)
        self.producer = {out: node for node in self.nodes for out in node.output}
        self.consumers = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for node in self.nodes:
            if node.op_type == "Constant":
                self.constants[node.output[0]] = self._constant_node(node)
        self.outputs = {o.name for o in graph.output}

    def _constant_node(self, node):
        from onnx import helper, numpy_helper

        for attribute in node.attribute:
            value = helper.get_attribute_value(attribute)
            if attribute.name == "value":
                return numpy_helper.to_array(value)
            if attribute.name in ("value_float", "value_floats", "value_int", "value_ints"):
                return np.asarray(value)
        return None

    def refuse(self, what):
        raise TinyeieError(f"{self.path}: {what}")

    def constant(self, name):
        """The value of ``name`` if it is a constant (seen through Transpose, Identity, Cast),
        else None."""
        if name in self.constants:
            return self.constants[name]
        node = self.producer.get(name)
        if node is None or node.op_type not in ("Transpose", "Identity", "Cast"):
            return None
        value = self.constant(node.input[0])
        if value is None or node.op_type != "Transpose":
            return value
        perm = attributes(node).get("perm")
        return np.transpose(value, perm if perm else None)

    def users(self, name):
        """The nodes that take ``name``, less the Shape nodes that only size a Reshape."""
        return [n for n in self.consumers.get(name, []) if n.op_type != "Shape"]

    def downstream(self, name):
        """Every node that depends on the value ``name``."""
        seen, todo = [], [name]
        while todo:
            for node in self.consumers.get(todo.pop(), []):
                if node not in seen:
                    seen.append(node)
                    todo.extend(node.output)
        return seen


def attributes(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _label(node):
    return f"{node.op_type} (node {node.name!r})" if node.name else node.op_type


def _load(path):
    try:
        import onnx
    except ImportError:
        raise TinyeieError("reading ONNX files needs the onnx package: pip install onnx") \
            from None
    path = Path(path)
    if not path.is_file():
        raise TinyeieError(f"ONNX model {path} does not exist")
    try:
        return onnx.load(str(path))
    except Exception as error:    # protobuf's DecodeError and friends: not an ONNX file
        raise TinyeieError(f"{path} is not a readable ONNX model ({type(error).__name__}: "
                           f"{str(error)[:120]})") from None


def _graph_input(g, graph):
    inputs = [i for i in graph.input if i.name not in g.constants]
    if len(inputs) != 1:
        g.refuse(f"the graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                 f"an MLP takes one")
    dims = inputs[0].type.tensor_type.shape.dim
    sizes = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    features = None
    if len(sizes) >= 2 and all(s is not None for s in sizes[1:]):
        features = int(np.prod(sizes[1:]))
    return inputs[0].name, features


def _weight(g, node, name, what):
    value = g.constant(name)
    if value is None or value.ndim != 2:
        shape = "" if value is None else f" (shape {value.shape})"
        g.refuse(f"{_label(node)} multiplies by {name!r}{shape}, not a constant matrix: the "
                 f"engine runs {what} with fixed weights")
    return np.asarray(value, dtype=np.float64)


def _bias(g, node, value, outputs):
    value = np.asarray(value, dtype=np.float64)
    if value.size == 1:
        return np.full(outputs, float(value.reshape(())))
    if value.size != outputs or value.shape[-1] != outputs:
        g.refuse(f"{_label(node)} adds a constant shaped {value.shape} to a layer of {outputs} "
                 f"outputs: only a bias (one value per output) can be added")
    return value.reshape(outputs)


def _gemm(g, node, current):
    a = attributes(node)
    if node.input[0] != current or a.get("transA", 0):
        g.refuse(f"{_label(node)} does not multiply the activations from the left")
    w = _weight(g, node, node.input[1], "Gemm")
    w = a.get("alpha", 1.0) * (w if a.get("transB", 0) else w.T)
    bias = np.zeros(len(w))
    if len(node.input) > 2 and node.input[2]:
        c = g.constant(node.input[2])
        if c is None:
            g.refuse(f"{_label(node)} adds {node.input[2]!r}, not a constant bias")
        bias = a.get("beta", 1.0) * _bias(g, node, c, len(w))
    return {"w": w, "b": bias, "relu": False, "node": node}


def _matmul(g, node, current):
    if node.input[0] != current:
        g.refuse(f"{_label(node)} multiplies the activations from the right: an MLP's layer "
                 f"takes them as MatMul's first input")
    return {"w": _weight(g, node, node.input[1], "MatMul").T, "b": np.zeros(0), "relu": False,
            "node": node, "open": True}


def _add(g, node, current, layers):
    other = node.input[1] if node.input[0] == current else node.input[0]
    value = g.constant(other)
    layer = layers[-1] if layers else None
    if value is None or layer is None or not layer.get("open"):
        g.refuse(f"{_label(node)} is not the bias of a MatMul: the engine adds a bias only "
                 f"right after a layer's product")
    layer["b"] = _bias(g, node, value, len(layer["w"]))
    layer["open"] = False


def _pass_through(g, node):
    a = attributes(node)
    if node.op_type == "Flatten" and a.get("axis", 1) != 1:
        g.refuse(f"{_label(node)} flattens from axis {a['axis']}; the engine takes each input "
                 f"as one vector (axis 1)")
    if node.op_type == "Cast":
        from onnx import TensorProto
        if a.get("to") not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
            g.refuse(f"{_label(node)} casts the activations to a non-float type")


def _tail(g, start):
    """The classifier's tail from node ``start`` on: its op types, or a refusal."""
    nodes = [start] + g.downstream(start.output[0])
    for node in nodes:
        if node.op_type not in TAIL_OPS:
            g.refuse(f"{_label(node)} follows the network's {start.op_type}; only a "
                     f"classifier's tail ({', '.join(sorted(TAIL_START))}, ZipMap, Cast, ...) "
                     f"may come after the last layer")
    notes = [f"dropped the classifier's tail after the last layer "
             f"({', '.join(dict.fromkeys(n.op_type for n in nodes))}): the class is the "
             f"largest logit either way"]
    for node in nodes:
        if node.op_type == "ArrayFeatureExtractor":
            labels = g.constant(node.input[0])
            if labels is not None and not np.array_equal(labels.reshape(-1),
                                                         np.arange(labels.size)):
                notes.append(f"the classifier's labels are {labels.reshape(-1).tolist()[:10]}: "
                             f"the engine answers with their position 0..{labels.size - 1}")
    return notes


def read_onnx(path):
    """Read the MLP in an ONNX file: an :class:`OnnxMLP`, or a TinyeieError naming what the
    engine cannot run."""
    model = _load(path)
    g = _Graph(path, model.graph)
    current, features = _graph_input(g, model.graph)
    layers, notes = [], []
    while True:
        users = g.users(current)
        if not users:
            break
        if len(users) > 1:
            g.refuse(f"the graph branches at {current!r} (into "
                     f"{', '.join(_label(n) for n in users)}); the engine runs a chain of layers")
        node = users[0]
        op = node.op_type
        if op in TAIL_START:
            notes += _tail(g, node)
            break
        if op in PASS_THROUGH:
            _pass_through(g, node)
        elif op == "Gemm":
            layers.append(_gemm(g, node, current))
        elif op == "MatMul":
            layers.append(_matmul(g, node, current))
        elif op == "Add":
            _add(g, node, current, layers)
        elif op == "Relu":
            if not layers or layers[-1]["relu"]:
                g.refuse(f"{_label(node)} does not follow a layer: the engine applies ReLU "
                         f"only to a layer's outputs")
            layers[-1]["relu"] = True
        else:
            g.refuse(f"the engine cannot run {_label(node)}; {RUNS}")
        if op != "Add" and layers and layers[-1].get("open") and layers[-1]["node"] is not node:
            layers[-1]["open"] = False    # a MatMul without a bias
        current = node.output[0]
    return OnnxMLP(_check(g, layers, features), notes)


def _check(g, layers, features):
    if not layers:
        g.refuse(f"no layer found (no Gemm or MatMul on the input's path); {RUNS}")
    for i, layer in enumerate(layers):
        label = _label(layer["node"])
        last = i == len(layers) - 1
        if not last and not layer["relu"]:
            g.refuse(f"layer {i} ({label}) has no Relu after it: the engine puts a ReLU after "
                     f"every layer but the last")
        if last and layer["relu"]:
            g.refuse(f"the last layer ({label}) is followed by Relu: the engine gives the last "
                     f"layer's logits as they are")
        expected = features if i == 0 else len(layers[i - 1]["w"])
        if expected is not None and layer["w"].shape[1] != expected:
            source = "the input has" if i == 0 else f"layer {i - 1} gives"
            g.refuse(f"layer {i} ({label}) takes {layer['w'].shape[1]} inputs but {source} "
                     f"{expected}")
        for name in ("w", "b"):
            if not np.all(np.isfinite(layer[name])):
                g.refuse(f"layer {i} ({label}) has NaN or Inf weights")
        if len(layer["b"]) == 0:
            layer["b"] = np.zeros(len(layer["w"]))
    return [(lay["w"].astype(np.float32), lay["b"].astype(np.float32)) for lay in layers]
