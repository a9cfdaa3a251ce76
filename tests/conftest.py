"""Shared fixtures: small generated data and a tiny trained MLP, so no test needs real MNIST."""

import numpy as np
import pytest

from tinyeie.sw.compress.nets import build


def synthetic_digits(n, seed=0):
    """``n`` sparse 784-pixel 'images' in 10 classes, pixels in [0, 1) like MNIST's.

    Each class lights its own random 15% of the pixels; every image dims them at random and adds
    a few stray pixels.
    """
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(1234).random((10, 784)) < 0.15
    y = rng.integers(0, 10, n)
    x = prototypes[y] * rng.uniform(0.5, 0.99, (n, 784))
    x += (rng.random((n, 784)) < 0.03) * rng.uniform(0, 0.99, (n, 784))
    return np.minimum(x, 0.99).astype(np.float32), y


@pytest.fixture
def digits():
    return synthetic_digits(512, seed=0), synthetic_digits(256, seed=1)


@pytest.fixture
def tiny_mlp():
    return build("mlp:784-32-16-10", seed=0)


# -- ONNX files as the exporters write them (built with onnx.helper: torch is no dependency) --

def _onnx_model(nodes, inputs, outputs, initializers, producer, opsets):
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "main_graph", inputs, outputs, initializers)
    model = helper.make_model(graph, producer_name=producer,
                              opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    onnx.checker.check_model(model)
    return model


def _tensor(name, array):
    from onnx import numpy_helper
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def torch_gemm_onnx(layers):
    """What ``torch.onnx.export`` (TorchScript) writes for ``nn.Sequential(nn.Flatten(),
    nn.Linear, nn.ReLU(), ..., nn.Linear)``: Flatten, then Gemm (transB=1) with the weight
    ``{k}.weight`` (out, in) and bias ``{k}.bias``, Relu between."""
    from onnx import TensorProto, helper

    features = layers[0][0].shape[1]
    nodes = [helper.make_node("Flatten", ["input"], ["/0/Flatten_output_0"], name="/0/Flatten",
                              axis=1)]
    inits, current = [], "/0/Flatten_output_0"
    for i, (w, b) in enumerate(layers):
        k = 1 + 2 * i
        last = i == len(layers) - 1
        out = "output" if last else f"/{k}/Gemm_output_0"
        inits += [_tensor(f"{k}.weight", w), _tensor(f"{k}.bias", b)]
        nodes.append(helper.make_node("Gemm", [current, f"{k}.weight", f"{k}.bias"], [out],
                                      name=f"/{k}/Gemm", alpha=1.0, beta=1.0, transB=1))
        current = out
        if not last:
            current = f"/{k + 1}/Relu_output_0"
            nodes.append(helper.make_node("Relu", [out], [current], name=f"/{k + 1}/Relu"))
    return _onnx_model(
        nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", len(layers[-1][1])])],
        inits, "pytorch", [("", 17)])


def torch_matmul_onnx(layers):
    """``torch.onnx.export`` (TorchScript) of a module with attributes fc1, fc2, ... on a
    3-D input (batch, 1, features): MatMul with a transposed copy of the weight
    (``onnx::MatMul_N``, (in, out)), then Add with the bias first."""
    from onnx import TensorProto, helper

    features = layers[0][0].shape[1]
    nodes, inits, current = [], [], "x"
    for i, (w, b) in enumerate(layers):
        name = f"fc{i + 1}"
        last = i == len(layers) - 1
        inits += [_tensor(f"onnx::MatMul_{20 + i}", w.T), _tensor(f"{name}.bias", b)]
        product = f"/{name}/MatMul_output_0"
        nodes.append(helper.make_node("MatMul", [current, f"onnx::MatMul_{20 + i}"], [product],
                                      name=f"/{name}/MatMul"))
        current = "y" if last else f"/{name}/Add_output_0"
        nodes.append(helper.make_node("Add", [f"{name}.bias", product], [current],
                                      name=f"/{name}/Add"))
        if not last:
            nodes.append(helper.make_node("Relu", [current], [f"/relu{i + 1}/Relu_output_0"],
                                          name=f"/relu{i + 1}/Relu"))
            current = f"/relu{i + 1}/Relu_output_0"
    return _onnx_model(
        nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1, len(layers[-1][1])])],
        inits, "pytorch", [("", 17)])


def torch_dynamo_onnx(layers):
    """``torch.onnx.export(..., dynamo=True)``: Reshape to (-1, features), then per layer
    MatMul with ``Transpose(fc{k}.weight)`` and Add of the bias, Relu between."""
    from onnx import TensorProto, helper, numpy_helper

    features = layers[0][0].shape[1]
    inits = [numpy_helper.from_array(np.array([-1, features], dtype=np.int64), "val_0")]
    nodes = [helper.make_node("Reshape", ["x", "val_0"], ["view"], name="node_view")]
    current = "view"
    for i, (w, b) in enumerate(layers):
        name = f"fc{i + 1}"
        last = i == len(layers) - 1
        inits += [_tensor(f"{name}.weight", w), _tensor(f"{name}.bias", b)]
        nodes += [helper.make_node("Transpose", [f"{name}.weight"], [f"permute_{i}"],
                                   name=f"node_permute_{i}", perm=[1, 0]),
                  helper.make_node("MatMul", [current, f"permute_{i}"], [f"matmul_{i}"],
                                   name=f"node_matmul_{i}")]
        current = "linear" if last else f"addmm_{i}"
        nodes.append(helper.make_node("Add", [f"matmul_{i}", f"{name}.bias"], [current],
                                      name=f"node_add_{i}"))
        if not last:
            nodes.append(helper.make_node("Relu", [current], [f"relu_{i}"],
                                          name=f"node_relu_{i}"))
            current = f"relu_{i}"
    return _onnx_model(
        nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("linear", TensorProto.FLOAT,
                                       ["batch", len(layers[-1][1])])],
        inits, "pytorch", [("", 18)])


def skl2onnx_onnx(layers):
    """skl2onnx's MLPClassifier with default options (``initial_types=[("X",
    FloatTensorType([None, features]))]``): Cast of the input; MatMul with ``coefficient``
    (in, out), Add of ``intercepts`` (1, out), Relu; Softmax after the last layer, then the
    classifier's tail: Identity to the probabilities, ArgMax, ArrayFeatureExtractor on the
    classes, Reshape, Cast to int64 (the label), and ZipMap (the probabilities as maps)."""
    from onnx import TensorProto, helper, numpy_helper

    features, classes = layers[0][0].shape[1], len(layers[-1][1])
    nodes = [helper.make_node("Cast", ["X"], ["cast_input"], name="Cast", to=TensorProto.FLOAT)]
    inits, current = [], "cast_input"
    for i, (w, b) in enumerate(layers):
        suffix = str(i) if i else ""
        inits += [_tensor(f"coefficient{suffix}", w.T),
                  _tensor(f"intercepts{suffix}", np.asarray(b).reshape(1, -1))]
        nodes += [helper.make_node("MatMul", [current, f"coefficient{suffix}"],
                                   [f"mul_result{suffix}"], name=f"MatMul{suffix}"),
                  helper.make_node("Add", [f"mul_result{suffix}", f"intercepts{suffix}"],
                                   [f"add_result{suffix}"], name=f"Add{suffix}")]
        current = f"add_result{suffix}"
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"next_activations{suffix}"],
                                          name=f"Relu{suffix}"))
            current = f"next_activations{suffix}"
    inits += [numpy_helper.from_array(np.arange(classes, dtype=np.int32), "classes"),
              numpy_helper.from_array(np.array([-1], dtype=np.int64), "shape_tensor")]
    nodes += [
        helper.make_node("Softmax", [current], ["out_activations_result"], name="Softmax"),
        helper.make_node("Identity", ["out_activations_result"], ["probabilities"],
                         name="Identity"),
        helper.make_node("ArgMax", ["probabilities"], ["argmax_output"], name="ArgMax", axis=1),
        helper.make_node("ArrayFeatureExtractor", ["classes", "argmax_output"],
                         ["array_feature_extractor_result"], name="ArrayFeatureExtractor",
                         domain="ai.onnx.ml"),
        helper.make_node("Reshape", ["array_feature_extractor_result", "shape_tensor"],
                         ["reshaped_result"], name="Reshape"),
        helper.make_node("Cast", ["reshaped_result"], ["label"], name="Cast1",
                         to=TensorProto.INT64),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"], name="ZipMap",
                         domain="ai.onnx.ml", classlabels_int64s=list(range(classes))),
    ]
    probability = helper.make_sequence_type_proto(helper.make_map_type_proto(
        TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])))
    return _onnx_model(
        nodes, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, features])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_value_info("output_probability", probability)],
        inits, "skl2onnx", [("", 15), ("ai.onnx.ml", 1)])


ONNX_EXPORTERS = {"torch-gemm": torch_gemm_onnx, "torch-matmul": torch_matmul_onnx,
                  "torch-dynamo": torch_dynamo_onnx, "skl2onnx": skl2onnx_onnx}


@pytest.fixture(scope="session")
def onnx_exporters():
    """``{name: function(layers) -> onnx.ModelProto}`` for the exporters' shapes; ``layers``
    is ``[(weight (out, in), bias), ...]``."""
    return ONNX_EXPORTERS


def own_dataset(n_train=1500, n_test=300, features=32, classes=5, seed=0):
    """A small data set that is not MNIST: ``classes`` prototypes of ``features`` values in
    [0, 1), each input one of them with noise, clipped into [0, 1)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((classes, features)) * (rng.random((classes, features)) < 0.5)

    def draw(n):
        y = rng.integers(0, classes, n)
        x = prototypes[y] + rng.normal(0, 0.45, (n, features))
        return np.clip(x, 0, 0.99).astype(np.float32), y
    return (*draw(n_train), *draw(n_test))


@pytest.fixture(scope="session")
def own_data_set():
    """:func:`own_dataset` as a fixture: ``own_data_set(**options)``."""
    return own_dataset
