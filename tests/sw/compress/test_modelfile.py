import json

import numpy as np
import pytest

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.modelfile import encode_layer, load_model, save_model
from tinyeie.sw.compress.pipeline import CompressConfig, compress
from tinyeie.sw.compress.sizes import best_fixed_rel_bits, paper_layer_size
from tinyeie.sw.compress.train import TrainConfig, train


@pytest.fixture
def small_model(tiny_mlp, digits):
    (x, y), test = digits
    train(tiny_mlp, x, y, TrainConfig(epochs=3, lr=0.05, augment=0))
    cfg = CompressConfig(quality=[1.0, 1.0, 0.5], bits=[4, 4, 3], prune_iterations=2,
                         retrain=TrainConfig(epochs=1, lr=0.01, augment=0),
                         finetune=TrainConfig(epochs=1, lr=1e-4, augment=0), sweep=True)
    return compress(tiny_mlp, (x, y), test, cfg, log=lambda *a: None), test


def test_save_load_round_trips_exactly(small_model, tmp_path):
    model, (xt, yt) = small_model
    save_model(tmp_path / "m.npz", model)
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.arch == "mlp:784-32-16-10"
    for a, b in zip(model.layers, loaded.layers):
        np.testing.assert_array_equal(a.index, b.index)
        np.testing.assert_array_equal(a.codebook, b.codebook)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert len(a.codebook) <= 1 << a.bits
    np.testing.assert_array_equal(model.network().predict(xt), loaded.network().predict(xt))
    assert set(loaded.history["sweep"]) == {"prune_only", "quant_only", "prune_quant"}


def test_compressed_model_is_sparse_and_shared(small_model):
    model, _ = small_model
    for layer in model.layers:
        assert layer.nnz < layer.index.size
        assert len(np.unique(layer.weights)) <= len(layer.codebook)


def test_layer_accounting_adds_up():
    rng = np.random.default_rng(0)
    index = ((rng.random((40, 50)) < 0.1) * rng.integers(1, 16, (40, 50))).astype(np.uint8)
    codebook = np.r_[0.0, np.linspace(-1, 1, 15)].astype(np.float32)
    layer = encode_layer("ip1", "fc", codebook, index, np.zeros(40), relu=True, bits=4)
    size = paper_layer_size(layer)
    s = layer.streams
    assert size["dense_bits"] == (40 * 50 + 40) * 32
    pq_rel_bits, pq_entries = best_fixed_rel_bits(index)
    assert size["pq_bits"] == pq_entries * (4 + pq_rel_bits) + 15 * 32 + 40 * 32 + 128
    assert pq_entries * pq_rel_bits <= layer.entries * layer.rel_bits
    assert size["pqh_bits"] == (s["wbits"] + s["rbits"] + (16 + (1 << layer.rel_bits)) * 5
                                + 15 * 32 + 40 * 32 + 128)
    assert size["nnz"] == np.count_nonzero(index)


def corrupt(path, tmp_path, edit):
    data = dict(np.load(path))
    edit(data)
    out = tmp_path / "bad.npz"
    np.savez(out, **data)
    return out


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("L1_rstream"), "'L1_rstream' is missing"),
    (lambda d: d.update(L0_codebook=np.r_[np.nan, d["L0_codebook"][1:]].astype(np.float32)),
     "NaN or Inf"),
    (lambda d: d.update(L2_bias=np.zeros(3, np.float32)), r"L2_bias is float32 \(3,\)"),
    (lambda d: d.update(L0_wstream=d["L0_wstream"][:5]), r"L0_wstream is uint8 \(5,\)"),
    (lambda d: d.update(format=np.array("something-else")), "not a tinyeie compressed model"),
    (lambda d: d.update(meta=np.array("{not json")), "meta header is not valid JSON"),
    (lambda d: d.update(meta=np.array(json.dumps(
        {**json.loads(str(d["meta"])), "arch": "resnet"}))), "unknown model"),
])
def test_malformed_files_are_refused_with_a_reason(small_model, tmp_path, edit, message):
    model, _ = small_model
    save_model(tmp_path / "m.npz", model)
    with pytest.raises(TinyeieError, match=message):
        load_model(corrupt(tmp_path / "m.npz", tmp_path, edit))


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(TinyeieError, match="not a readable .npz"):
        load_model(path)
    with pytest.raises(TinyeieError, match="does not exist"):
        load_model(tmp_path / "missing.npz")


def test_report_writes_the_paper_figures(small_model, tmp_path):
    from tinyeie.sw.compress.report import write_report

    model, _ = small_model
    paths = write_report(model, tmp_path / "report")
    names = sorted(p.name for p in paths)
    assert names == sorted(["fig4_ip1.png", "fig4_ip2.png", "fig4_ip3.png", "fig5_ip1.png",
                            "fig5_ip2.png", "fig5_ip3.png", "fig6_accuracy_vs_compression.png"])
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_decompress_gives_the_dense_mlp(small_model, tmp_path):
    from tinyeie.cli.main import main
    from tinyeie.sw.compress.floatfile import load_float

    model, (xt, _) = small_model
    save_model(tmp_path / "m.npz", model)
    assert main(["decompress", str(tmp_path / "m.npz"), "-o", str(tmp_path / "d.npz")]) == 0
    dense = np.load(tmp_path / "d.npz")
    assert sorted(dense.files) == ["b0", "b1", "b2", "w0", "w1", "w2"]
    assert dense["w0"].shape == (32, 784) and dense["w2"].shape == (10, 16)
    a = xt
    for i in range(3):
        a = a @ dense[f"w{i}"].T + dense[f"b{i}"]
        a = np.maximum(a, 0) if i < 2 else a
    np.testing.assert_allclose(a, model.network().predict(xt), rtol=1e-5, atol=1e-5)
    # and a decompressed file is a valid input to compress
    net, _ = load_float(tmp_path / "d.npz")
    assert net.arch == "mlp:784-32-16-10"
