"""A user's MLP into tinyeie: ONNX as torch.onnx.export and skl2onnx write it, .npz weight arrays
in either layout; what the engine cannot run is refused in one line naming it.

The ONNX files are built with onnx.helper in the exporters' shapes (tests/conftest.py) and run
by onnx's reference evaluator, so the network read must compute what the file computes."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.importer import import_network
from tinyeie.sw.compress.onnx_import import read_onnx


def random_layers(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32),
             (rng.standard_normal(o) * 0.1).astype(np.float32)) for i, o in zip(sizes, sizes[1:])]


def reference_outputs(model, x):
    """What onnx's reference evaluator computes (ZipMap, which it lacks, left out)."""
    graph = model.graph
    kept = [n for n in graph.node if n.op_type != "ZipMap"]
    outputs = [o for o in graph.output if o.name != "output_probability"]
    stripped = helper.make_model(helper.make_graph(kept, "g", graph.input, outputs,
                                                   graph.initializer),
                                 opset_imports=model.opset_import)
    name = graph.input[0].name
    rank = len(graph.input[0].type.tensor_type.shape.dim)
    return ReferenceEvaluator(stripped).run(None, {name: x.reshape(len(x), *[1] * (rank - 2),
                                                                  x.shape[1])})


@pytest.mark.parametrize("exporter", ["torch-gemm", "torch-matmul", "torch-dynamo",
                                      "skl2onnx"])
def test_onnx_from_each_exporter_reads_as_the_network_it_is(exporter, onnx_exporters, tmp_path):
    layers = random_layers([32, 24, 16, 5])
    path = tmp_path / f"{exporter}.onnx"
    onnx.save(onnx_exporters[exporter](layers), path)
    net, meta, notes = import_network(path)
    assert net.arch == "mlp:32-24-16-5"
    x = np.random.default_rng(1).random((40, 32)).astype(np.float32)
    logits = net.predict(x)
    out = reference_outputs(onnx.load(path), x)
    if exporter == "skl2onnx":
        np.testing.assert_array_equal(out[0], logits.argmax(axis=1))    # the label output
        assert len(notes) == 1 and "dropped the classifier's tail" in notes[0]
        for op in ("Softmax", "ArgMax", "ZipMap", "Cast"):
            assert op in notes[0]
    else:
        np.testing.assert_allclose(out[0].reshape(logits.shape), logits, rtol=1e-5, atol=1e-5)
        assert notes == []


def graph_with(nodes, inits, features=4, outputs=("y",)):
    model = helper.make_model(helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, features])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [onnx.numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()]),
        opset_imports=[helper.make_opsetid("", 17)])
    return model


def save(tmp_path, model):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    return path


W = {"w": np.ones((3, 4)), "b": np.zeros(3), "w2": np.ones((2, 3)), "b2": np.zeros(2)}


@pytest.mark.parametrize("nodes, fragment", [
    ([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1, name="fc1"),
      helper.make_node("Tanh", ["h"], ["t"], name="act"),
      helper.make_node("Gemm", ["t", "w2", "b2"], ["y"], transB=1)],
     "the engine cannot run Tanh (node 'act')"),
    ([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
      helper.make_node("Gemm", ["h", "w2", "b2"], ["y"], transB=1)],
     "has no Relu after it"),
    ([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
      helper.make_node("Relu", ["h"], ["r"]),
      helper.make_node("Gemm", ["r", "w2", "b2"], ["g"], transB=1),
      helper.make_node("Sigmoid", ["g"], ["y"])],
     "the engine cannot run Sigmoid"),
    ([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
      helper.make_node("Relu", ["h"], ["r"]),
      helper.make_node("Gemm", ["r", "w2", "b2"], ["g"], transB=1),
      helper.make_node("Relu", ["g"], ["y"])],
     "the last layer (Gemm) is followed by Relu"),
    ([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
      helper.make_node("Relu", ["h"], ["y"]),
      helper.make_node("Relu", ["h"], ["z"])],
     "the graph branches at 'h'"),
])
def test_what_the_engine_cannot_run_is_refused_by_name(nodes, fragment, tmp_path):
    outputs = [o for n in nodes for o in n.output if o in ("y", "z")]
    with pytest.raises(TinyeieError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        read_onnx(save(tmp_path, graph_with(nodes, W, outputs=outputs)))


def test_a_convolution_is_refused_by_name(tmp_path):
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["x", "k"], ["y"], name="/conv1/Conv")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(np.ones((4, 1, 5, 5), np.float32), "k")]),
        opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(TinyeieError) as error:
        import_network(save(tmp_path, model))
    assert "the engine cannot run Conv (node '/conv1/Conv')" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00\x01not a protobuf at all" * 10)
    with pytest.raises(TinyeieError, match="is not a readable ONNX model"):
        import_network(path)


def test_input_size_must_match_the_first_layer(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    with pytest.raises(TinyeieError, match="layer 0 .* takes 4 inputs but the input has 6"):
        read_onnx(save(tmp_path, graph_with(nodes, W, features=6)))


def arrays_file(tmp_path, layers, layout):
    arrays = {}
    for i, (w, b) in enumerate(layers):
        arrays[f"w{i}"] = w if layout == "out-in" else w.T
        arrays[f"b{i}"] = b
    path = tmp_path / f"{layout}.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("layout", ["out-in", "in-out"])
def test_npz_layout_is_read_from_the_shapes(layout, tmp_path):
    layers = random_layers([64, 32, 3])
    net, meta, notes = import_network(arrays_file(tmp_path, layers, layout))
    assert net.arch == "mlp:64-32-3" and meta["layout"] == layout
    assert "the layout their shapes fit" in notes[0]
    x = np.random.default_rng(2).random((5, 64)).astype(np.float32)
    expected = np.maximum(x @ layers[0][0].T + layers[0][1], 0) @ layers[1][0].T + layers[1][1]
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-5, atol=1e-5)


def test_npz_shapes_that_fit_both_layouts_need_layout(tmp_path):
    layers = random_layers([8, 8, 8])
    path = arrays_file(tmp_path, layers, "in-out")
    with pytest.raises(TinyeieError, match="fit both layouts: say which with --layout"):
        import_network(path)
    net, meta, _ = import_network(path, layout="in-out")
    np.testing.assert_array_equal(net.params[0].w, layers[0][0])


def test_a_wrong_layout_is_refused_with_the_right_one(tmp_path):
    path = arrays_file(tmp_path, random_layers([64, 32, 3]), "in-out")
    with pytest.raises(TinyeieError, match=r"read as --layout out-in, .*they do as --layout "
                                           r"in-out"):
        import_network(path, layout="out-in")


def test_shapes_that_chain_in_neither_layout(tmp_path):
    np.savez(tmp_path / "bad.npz", w0=np.zeros((30, 784), np.float32),
             b0=np.zeros(30, np.float32), w1=np.zeros((10, 31), np.float32),
             b1=np.zeros(10, np.float32))
    with pytest.raises(TinyeieError, match="chain in neither layout.*must chain"):
        import_network(tmp_path / "bad.npz")
