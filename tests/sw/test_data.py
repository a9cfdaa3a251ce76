"""A user's data set file: read back as written, and every malformed file refused in one line
that names the array and what it should be."""

import numpy as np
import pytest

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.data import load_dataset, read_inputs, save_dataset


def good_arrays(features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return dict(x_train=rng.random((20, features)) * 0.99, y_train=rng.integers(0, classes, 20),
                x_test=rng.random((8, features)) * 0.99, y_test=np.arange(8) % classes)


def test_a_data_set_reads_back(tmp_path):
    arrays = good_arrays()
    save_dataset(tmp_path / "d.npz", **arrays)
    data = load_dataset(tmp_path / "d.npz")
    assert (data.name, data.features, data.classes, data.image_shape) == ("d.npz", 6, 3, None)
    np.testing.assert_allclose(data.train[0], arrays["x_train"], rtol=1e-6)
    np.testing.assert_array_equal(data.test[1], arrays["y_test"])
    x, y = data.test_inputs(5)
    assert x.shape == (5, 6) and x.dtype == np.float32 and y.dtype == np.int64
    with pytest.raises(TinyeieError, match="has 8 test inputs: ask for 1..8, not 9"):
        data.test_inputs(9)


def test_mnist_is_the_default_without_loading_it(monkeypatch):
    import tinyeie.sw.mnist as mnist

    monkeypatch.setattr(mnist, "load_mnist", lambda: pytest.fail("MNIST was loaded"))
    data = load_dataset(None)
    assert (data.name, data.features, data.classes, data.image_shape) == ("MNIST", 784, 10,
                                                                          (28, 28))
    with pytest.raises(TinyeieError, match="takes 32 inputs but MNIST has 784 features"):
        data.check_model(32, 10)


@pytest.mark.parametrize("change, fragment", [
    (dict(x_test=None), "no x_test"),
    (dict(x_train=np.full((20, 6), 255.0)), "x_train ranges from 255 to 255; features must be "
                                             "in [0, 1)"),
    (dict(x_train=-np.ones((20, 6))), "features must be in [0, 1)"),
    (dict(x_test=np.full((8, 6), np.nan)), "x_test contains NaN or Inf"),
    (dict(x_test=np.zeros((8, 5))), "x_train has 6 features, x_test 5"),
    (dict(y_train=np.zeros(20) + 0.5), "y_train is float64 shaped (20,); expected integer"),
    (dict(y_test=np.zeros(7, int)), "y_test has 7 labels for 8 inputs"),
    (dict(y_train=np.full(20, -1)), "holds the label -1"),
    (dict(y_train=np.zeros(20, int), y_test=np.zeros(8, int)), "at least two classes"),
    (dict(x_train=np.array(["a"] * 20)), "x_train is <U1 shaped (20,)"),
])
def test_bad_data_sets_are_refused(tmp_path, change, fragment):
    arrays = {k: v for k, v in {**good_arrays(), **change}.items() if v is not None}
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(TinyeieError) as error:
        load_dataset(tmp_path / "d.npz")
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(TinyeieError, match="does not exist .*x_train, y_train, x_test, y_test"):
        load_dataset(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 nothing")
    with pytest.raises(TinyeieError, match="is not a readable .npz"):
        load_dataset(tmp_path / "bad.npz")


def test_inputs_to_classify(tmp_path):
    x = np.random.default_rng(0).random((4, 6)) * 0.9
    np.save(tmp_path / "one.npy", x[0])
    np.save(tmp_path / "batch.npy", x)
    np.savez(tmp_path / "labelled.npz", x=x, y=np.array([0, 1, 2, 1]))
    save_dataset(tmp_path / "set.npz", **good_arrays())
    assert read_inputs(tmp_path / "one.npy")[0].shape == (1, 6)
    batch, labels = read_inputs(tmp_path / "batch.npy")
    assert batch.shape == (4, 6) and labels is None
    assert read_inputs(tmp_path / "labelled.npz")[1].tolist() == [0, 1, 2, 1]
    assert read_inputs(tmp_path / "set.npz")[0].shape == (8, 6)       # its test inputs
    np.save(tmp_path / "bytes.npy", np.full(6, 200))
    with pytest.raises(TinyeieError, match="divide by 256"):
        read_inputs(tmp_path / "bytes.npy")
    (tmp_path / "set.csv").write_text("0.5,0.5")
    with pytest.raises(TinyeieError, match="expected .png .*, .npy .* or .npz"):
        read_inputs(tmp_path / "set.csv")
