"""Your own network and data, on the engine (issue 13): a generated data set that is not MNIST
(32 features, 5 classes), an MLP trained on it, written as ONNX in the shapes torch.onnx.export
and skl2onnx give, then compress -> stats -> pack -> sim (0 mismatches) -> build. No MNIST file
is touched: the cache is an empty folder and every MNIST loader fails the test."""

import json

import onnx
import pytest

import tinyeie.sw.mnist as mnist
from tinyeie.cli.main import main
from tinyeie.sw.compress.floatfile import load_float
from tinyeie.sw.data import save_dataset

EXPORTERS = ["torch-gemm", "skl2onnx"]


def tinyeie(*args):
    """Run the command line in this process; its exit status."""
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def no_mnist(tmp_path_factory):
    cache = tmp_path_factory.mktemp("empty-cache")

    def refuse(*args, **kwargs):
        raise AssertionError("MNIST was touched")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TINYEIE_CACHE", str(cache))
        for name in ("mnist_path", "load_mnist", "training_set"):
            patch.setattr(mnist, name, refuse)
        yield
    assert list(cache.iterdir()) == [], "something was written into the MNIST cache"


@pytest.fixture(scope="module")
def work(tmp_path_factory, no_mnist, own_data_set, onnx_exporters):
    """The data set; the MLP trained on it, as ONNX files; each compressed and packed."""
    folder = tmp_path_factory.mktemp("own")
    data = folder / "data.npz"
    save_dataset(data, *own_data_set())
    assert tinyeie("train", "mlp:32-16-5", "--data", data, "--epochs", 15,
                   "-o", folder / "float.npz") == 0
    net, _ = load_float(folder / "float.npz")
    layers = net.get_weights()
    for name in EXPORTERS:
        onnx.save(onnx_exporters[name](layers), folder / f"{name}.onnx")
        assert tinyeie("compress", folder / f"{name}.onnx", "--data", data, "--no-sweep",
                       "--quality", "0.8", "--retrain-epochs", 3, "--finetune-epochs", 2,
                       "-o", folder / f"{name}.npz") == 0
        assert tinyeie("pack", folder / f"{name}.npz", "--data", data, "--pes", 4,
                       "-o", folder / name) == 0
    return folder


def test_compress_stats_pack(work, capsys):
    for name in EXPORTERS:
        capsys.readouterr()
        assert tinyeie("stats", work / f"{name}.npz", "--data", work / "data.npz", "--json") == 0
        stats = json.loads(capsys.readouterr().out)
        assert stats["arch"] == "mlp:32-16-5" and stats["data"] == "data.npz"
        # hw_test_error is the integer engine's (the golden model's), not the float model's
        assert stats["test_error"] < 0.1 and stats["hw_test_error"] < 0.15
        assert stats["density"] < 0.9 and stats["compression_ratio"] > 4
        manifest = json.loads((work / name / "manifest.json").read_text())
        assert manifest["config"]["pes"] == 4
        image = work / name / "model.bin"
        assert stats["hw_bytes"] == manifest["image_bytes"] == image.stat().st_size


@pytest.mark.verilator
def test_sim_matches_the_golden_model(work, capsys):
    for name in EXPORTERS:
        capsys.readouterr()
        status = tinyeie("sim", work / name, "--data", work / "data.npz", "--images", 60, "--json")
        stats = json.loads(capsys.readouterr().out)
        assert status == 0 and stats["images"] == 60 and stats["mismatches"] == 0
        assert stats["first_mismatch"] is None and stats["errors"] <= 6


@pytest.mark.toolchain
@pytest.mark.slow
def test_build_for_the_icebreaker(work, capsys):
    capsys.readouterr()
    status = tinyeie("build", "--board", "icebreaker", work / "skl2onnx", "-o", work / "board",
                     "--json")
    fields = json.loads(capsys.readouterr().out)
    assert status == 0 and fields["timing_met"] and fields["luts"] <= fields["luts_total"]
    assert (work / "board" / "flash.bin").stat().st_size > 0x100000
