"""Data sets: MNIST by default, or a user's own from an ``.npz`` file (``--data FILE.npz``).

A data set file holds four arrays: ``x_train`` and ``x_test``, features as floats in [0, 1)
shaped (n, features) (any further dimensions are flattened row-major, as ONNX's Flatten does),
and ``y_train`` and ``y_test``, integer labels 0..classes-1 shaped (n,). Features in [0, 1)
are what the engine's 8-bit inputs hold (docs/engine.md, "Number formats").
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw import mnist
from tinyeie.sw.npzfile import read_npz

__all__ = ["Dataset", "ARRAYS", "load_dataset", "mnist_dataset", "save_dataset", "read_inputs"]

ARRAYS = ("x_train", "y_train", "x_test", "y_test")
#: The most a data set file may hold, on disk and inflated: 2 GiB (MNIST's 70,000 pictures as
#: float32 take 220 MB).
MAX_DATA_BYTES = 2 << 30


@dataclass
class Dataset:
    """Training and test splits with their sizes; MNIST's load on first use.

    Attributes
    ----------
    name : str
        ``"MNIST"`` or the file's name, for messages.
    features, classes : int
        Inputs a model takes and the classes it tells apart.
    image_shape : tuple or None
        ``(28, 28)`` for MNIST: pictures that training may shift by a pixel or two. None for a
        user's features, which are never augmented.
    load : callable
        Returns the splits, ``{"train": (x, y), "test": (x, y)}``; called on first use.
    """

    name: str
    features: int
    classes: int
    load: Callable = field(repr=False)
    image_shape: tuple = None
    _splits: dict = field(default=None, init=False, repr=False)

    def _get(self, split):
        if self._splits is None:
            self._splits = self.load()
        return self._splits[split]

    @property
    def train(self):
        """``(x, y)`` of the training split: x float32 (n, features), y int64 (n,)."""
        return self._get("train")

    @property
    def test(self):
        """``(x, y)`` of the test split."""
        return self._get("test")

    def calibration(self, count=10_000):
        """The first ``count`` training inputs, which choose the engine's activation scales."""
        return self.train[0][:count]

    def test_inputs(self, count=None):
        """``(x, y)`` of the first ``count`` test inputs (all when None); a TinyeieError for a
        count the split does not have."""
        x, y = self.test
        if count is None:
            return x, y
        if not 1 <= count <= len(x):
            raise TinyeieError(f"{self.name} has {len(x):,} test inputs: ask for 1..{len(x)}, "
                               f"not {count}")
        return x[:count], y[:count]

    def test_input(self, index):
        """``(x, y)`` of the one test input at ``index`` (shapes (1, features) and (1,))."""
        x, y = self.test
        if not 0 <= index < len(x):
            raise TinyeieError(f"--index must be 0..{len(x) - 1} ({self.name}'s test inputs), "
                               f"not {index}")
        return x[index:index + 1], y[index:index + 1]

    def describe(self, count):
        """``"200 MNIST test images"``, ``"50 test inputs of iris.npz"``."""
        if self.image_shape is not None:
            return f"{count:,} {self.name} test images"
        return f"{count:,} test inputs of {self.name}"

    def check_model(self, inputs, outputs, what="the model"):
        """Refuse a model that takes another number of features than the data has, or has
        fewer outputs than the data has classes."""
        if inputs != self.features:
            raise TinyeieError(f"{what} takes {inputs} inputs but {self.name} has "
                               f"{self.features} features: use a model made for this data "
                               f"(or --data for the data set it was made for)")
        if outputs < self.classes:
            raise TinyeieError(f"{what} has {outputs} outputs but {self.name} has labels up to "
                               f"{self.classes - 1}: it needs one output per class")


def mnist_dataset():
    """MNIST: the 60,000 training images (train and validation splits of mnist.pkl.gz) and the
    10,000 test images."""
    def load():
        return {"train": mnist.training_set(), "test": mnist.load_mnist()["test"]}
    return Dataset("MNIST", 784, 10, load, image_shape=(28, 28))


def _bad(where, what):
    raise TinyeieError(f"{where}: {what}")


def _features(where, name, x):
    if x.dtype.kind not in "fiu" or x.ndim < 2 or len(x) == 0:
        _bad(where, f"{name} is {x.dtype} shaped {x.shape}; expected floats shaped (inputs, "
                    f"features)")
    x = x.reshape(len(x), -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        _bad(where, f"{name} contains NaN or Inf values")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high >= 1:
        _bad(where, f"{name} ranges from {low:g} to {high:g}; features must be in [0, 1), the "
                    f"range of the engine's inputs: scale them (bytes: divide by 256)")
    return x.astype(np.float32)


def _labels(where, name, y, count):
    if y.dtype.kind not in "iu" or y.ndim != 1:
        _bad(where, f"{name} is {y.dtype} shaped {y.shape}; expected integer labels shaped "
                    f"({count},)")
    if len(y) != count:
        _bad(where, f"{name} has {len(y)} labels for {count} inputs")
    if y.min() < 0:
        _bad(where, f"{name} holds the label {int(y.min())}; labels are 0..classes-1")
    return y.astype(np.int64)


def load_dataset(path=None):
    """The data set in ``path`` (an .npz of :data:`ARRAYS`), checked; MNIST when None.

    Every problem is one :class:`~tinyeie.contract.errors.TinyeieError` naming the array and
    what it should be.
    """
    if path is None:
        return mnist_dataset()
    path = Path(path)
    if not path.is_file():
        raise TinyeieError(f"data set {path} does not exist (an .npz holding "
                           f"{', '.join(ARRAYS)})")
    arrays = read_npz(path, "data set", MAX_DATA_BYTES)
    where = f"data set {path}"
    missing = [key for key in ARRAYS if key not in arrays]
    if missing:
        _bad(where, f"no {', '.join(missing)} (found {', '.join(sorted(arrays)) or 'nothing'});"
                    f" a data set holds {', '.join(ARRAYS)}")
    x_train = _features(where, "x_train", arrays["x_train"])
    x_test = _features(where, "x_test", arrays["x_test"])
    if x_train.shape[1] != x_test.shape[1]:
        _bad(where, f"x_train has {x_train.shape[1]} features, x_test {x_test.shape[1]}")
    y_train = _labels(where, "y_train", arrays["y_train"], len(x_train))
    y_test = _labels(where, "y_test", arrays["y_test"], len(x_test))
    classes = int(max(y_train.max(), y_test.max())) + 1
    if classes < 2:
        _bad(where, "every label is 0: a classifier needs at least two classes")
    splits = {"train": (x_train, y_train), "test": (x_test, y_test)}
    return Dataset(path.name, x_train.shape[1], classes, lambda: splits)


def save_dataset(path, x_train, y_train, x_test, y_test):
    """Write a data set file that :func:`load_dataset` reads back."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, x_train=np.asarray(x_train, np.float32), y_train=np.asarray(y_train, np.int64),
                 x_test=np.asarray(x_test, np.float32), y_test=np.asarray(y_test, np.int64))


def read_inputs(path):
    """Inputs to classify from a file: ``(x, y)``, x float32 (n, features) in [0, 1), y the
    labels or None.

    ``.png``: one 28x28 picture of a digit (:func:`tinyeie.sw.mnist.read_digit_image`);
    ``.npy``: one input (features,) or a batch (n, features); ``.npz``: arrays ``x`` and, if
    known, ``y`` (the labels), or a data set file's ``x_test`` and ``y_test``.
    """
    path = Path(path)
    if not path.is_file():
        raise TinyeieError(f"input file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".png":
        return mnist.read_digit_image(path)[None], None
    if suffix == ".npy":
        try:
            # Mapped first: a header that declares more than the file holds fails here,
            # before anything of that size is allocated.
            x = np.array(np.load(path, mmap_mode="r", allow_pickle=False))
        except (OSError, ValueError, EOFError) as error:
            raise TinyeieError(f"input file {path} is not a readable .npy file ({error})") \
                from None
        return _features(f"input file {path}", "its array",
                         x.reshape(1, -1) if x.ndim == 1 else x), None
    if suffix != ".npz":
        raise TinyeieError(f"input file {path}: expected .png (a 28x28 digit), .npy (inputs) "
                           f"or .npz (x and y, or a data set's x_test and y_test)")
    arrays = read_npz(path, "input file", MAX_DATA_BYTES)
    where = f"input file {path}"
    names = ("x_test", "y_test") if "x_test" in arrays else ("x", "y")
    if names[0] not in arrays:
        _bad(where, f"no array x (or x_test) to classify (found "
                    f"{', '.join(sorted(arrays)) or 'nothing'})")
    x = arrays[names[0]]
    x = _features(where, names[0], x.reshape(1, -1) if x.ndim == 1 else x)
    y = _labels(where, names[1], arrays[names[1]], len(x)) if names[1] in arrays else None
    return x, y
