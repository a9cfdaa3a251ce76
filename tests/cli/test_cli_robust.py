"""The command line under careless use (issue 11, finding 5): output paths checked before the
work, files replaced atomically, every numeric option checked as it is parsed."""

import os
import time

import numpy as np
import pytest

from tinyeie.cli.main import main
from tinyeie.contract.errors import TinyeieError
from tinyeie.sim.bad_modelfiles import small_compressed, small_float
from tinyeie.sw import outputs


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    (folder / "a-file").write_text("")
    return {"compressed": small_compressed(folder / "small.npz"),
            "float": small_float(folder / "float.npz"),
            "unwritable": folder / "a-file" / "out"}


@pytest.fixture
def no_work(monkeypatch):
    """Make the long work impossible: loading MNIST fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the command started its work before checking its output")
    from tinyeie.sw import mnist
    monkeypatch.setattr(mnist, "load_mnist", refuse)
    monkeypatch.setattr(mnist, "training_set", refuse)


def one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("command", [
    lambda f: ["train", "mlp:784-16-10", "-o", f["unwritable"] / "f.npz"],
    lambda f: ["compress", f["float"], "-o", f["unwritable"] / "m.npz"],
    lambda f: ["decompress", f["compressed"], "-o", f["unwritable"] / "d.npz"],
    lambda f: ["report", f["compressed"], "-o", f["unwritable"] / "report"],
    lambda f: ["pack", f["compressed"], "-o", f["unwritable"] / "packed"],
    lambda f: ["verilog", "-o", f["unwritable"] / "e.v"],
    lambda f: ["build", "--board", "icebreaker", f["compressed"], "-o", f["unwritable"]],
])
def test_an_unwritable_output_fails_before_the_work(files, no_work, capsys, command):
    """`compress` and `train` once found out only after minutes of work."""
    argv = [str(a) for a in command(files)]
    start = time.monotonic()
    assert main(argv) == 2
    assert "a-file is a file, not a folder" in one_line_error(capsys)
    assert time.monotonic() - start < 10


def test_an_output_that_is_a_folder(files, no_work, capsys, tmp_path):
    assert main(["compress", str(files["float"]), "-o", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in one_line_error(capsys)


def test_a_failed_write_leaves_the_old_file_whole(files, tmp_path, monkeypatch):
    """Model files were written in place: a crash half-way left half a file."""
    from tinyeie.sw.compress.modelfile import load_model, save_model

    target = tmp_path / "model.npz"
    target.write_bytes(files["compressed"].read_bytes())
    model = load_model(target)

    def half_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez_compressed", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_model(target, model)
    assert target.read_bytes() == files["compressed"].read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]     # no leftovers


def test_atomic_write_replaces_whole_files_with_the_usual_mode(tmp_path):
    path = tmp_path / "sub" / "x.txt"
    outputs.write_text(path, "one")
    outputs.write_text(path, "two")
    assert path.read_text() == "two"
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    with pytest.raises(TinyeieError, match="is a file; give a folder"):
        outputs.check_output_dir(path)


@pytest.mark.parametrize("argv, message", [
    (["stats", "{C}", "--pes", "0"], "argument --pes: must be 1..64, not 0"),
    (["pack", "{C}", "--pes", "0", "-o", "{T}/p"], "argument --pes: must be at least 1, not 0"),
    (["pack", "{C}", "--pe-depth", "-5", "-o", "{T}/p"], "argument --pe-depth: must be at"),
    (["verilog", "--pes", "0", "-o", "{T}/e.v"], "argument --pes: must be at least 1"),
    (["sim", "{C}", "--pes", "0"], "argument --pes: must be at least 1"),
    (["sim", "{C}", "--images", "0"], "argument --images: must be at least 1, not 0"),
    (["build", "--board", "icebreaker", "{C}", "--pes", "0"], "argument --pes: must be at"),
    (["train", "lenet300", "-o", "{T}/f.npz", "--lr", "nan"], "must be a finite number over"),
    (["train", "lenet300", "-o", "{T}/f.npz", "--lr", "0"], "argument --lr: must be a finite"),
    (["train", "lenet300", "-o", "{T}/f.npz", "--epochs", "0"], "argument --epochs: must be"),
    (["train", "lenet300", "-o", "{T}/f.npz", "--batch", "0"], "argument --batch: must be"),
    (["train", "lenet300", "-o", "{T}/f.npz", "--seed", "-1"], "argument --seed: must be"),
    (["train", "lenet300", "-o", "{T}/f.npz", "--augment", "-1"], "argument --augment: must"),
    (["compress", "{F}", "-o", "{T}/m.npz", "--quality", "1,nan"], "argument --quality"),
    (["compress", "{F}", "-o", "{T}/m.npz", "--bits", "0"], "argument --bits: expected "
                                                            "integers 1..8"),
    (["compress", "{F}", "-o", "{T}/m.npz", "--prune-iterations", "0"], "--prune-iterations"),
    (["compress", "{F}", "-o", "{T}/m.npz", "--retrain-epochs", "-1"], "--retrain-epochs"),
    (["compress", "{F}", "-o", "{T}/m.npz", "--finetune-epochs", "x"], "expected an integer"),
    (["infer", "--port", "/dev/null", "--baud", "0"], "argument --baud: must be"),
    (["infer", "--port", "/dev/null", "--mnist-index", "-1"], "--mnist-index: must be at least 0"),
])
def test_every_numeric_option_is_checked_as_it_is_parsed(files, no_work, capsys, tmp_path,
                                                         argv, message):
    """`--pes 0` once packed for 4 PEs and exited 0; `--seed -1`, `--batch 0` and
    `--augment -1` ended in tracebacks; `--lr nan` trained on NaN."""
    argv = [a.replace("{C}", str(files["compressed"])).replace("{F}", str(files["float"]))
            .replace("{T}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    line = one_line_error(capsys)
    assert message in line and line.startswith(f"tinyeie {argv[0]}: error:"), line
