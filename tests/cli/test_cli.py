"""The command line as a user meets it: bad input gives one clean line and exit status 2."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyeie.cli.main import main
from tinyeie.sw.compress.floatfile import load_float


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tinyeie.cli.main", *map(str, args)],
                          capture_output=True, text=True)


def assert_clean_error(result, fragment):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert fragment in lines[0]


def test_missing_model_file(tmp_path):
    assert_clean_error(run_cli("stats", tmp_path / "nope.npz"), "does not exist")


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    assert_clean_error(run_cli("decompress", bad, "-o", tmp_path / "d.npz"), "not a readable")


def test_unknown_model_name(tmp_path):
    assert_clean_error(run_cli("train", "resnet50", "-o", tmp_path / "f.npz"), "unknown model")


def float_file(tmp_path, **arrays):
    path = tmp_path / "user.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, fragment", [
    (dict(w0=np.full((10, 784), np.nan, np.float32), b0=np.zeros(10, np.float32)), "NaN or Inf"),
    (dict(w0=np.zeros((30, 784), np.float32), b0=np.zeros(30, np.float32),
          w1=np.zeros((10, 31), np.float32), b1=np.zeros(10, np.float32)), "must chain"),
    (dict(w0=np.zeros((10, 784), np.float32)), "no b0"),
    (dict(w0=np.zeros((10, 700), np.float32), b0=np.zeros(10, np.float32)), "784 features"),
    (dict(x=np.zeros(3)), "holds no weights"),
])
def test_bad_float_models_are_refused(tmp_path, capsys, arrays, fragment):
    assert main(["compress", str(float_file(tmp_path, **arrays)), "-o",
                 str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_float_file_of_a_user_mlp_loads(tmp_path):
    rng = np.random.default_rng(0)
    w0, w1 = rng.standard_normal((2, 20, 784)), rng.standard_normal((10, 20))
    path = float_file(tmp_path, w0=w0.astype(np.float32)[0], b0=np.zeros(20, np.float32),
                      w1=w1.astype(np.float32), b1=np.ones(10, np.float32))
    net, _ = load_float(path)
    assert net.arch == "mlp:784-20-10"
    x = rng.random((5, 784)).astype(np.float32)
    expected = np.maximum(x @ w0[0].T, 0) @ w1.T + 1
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-4, atol=1e-4)


def test_bad_option_values(tmp_path, capsys):
    path = float_file(tmp_path, w0=np.zeros((10, 784), np.float32), b0=np.zeros(10, np.float32))
    assert main(["compress", str(path), "-o", str(tmp_path / "m.npz"), "--bits", "4,4"]) == 2
    assert "1 or 1 values" in capsys.readouterr().err
    assert main(["compress", str(path), "-o", str(tmp_path / "m.npz"), "--init", "magic"]) == 2
    assert "unknown k-means initialisation" in capsys.readouterr().err


def test_unwritable_output_is_a_clean_error(tmp_path):
    shipped = Path(__file__).resolve().parents[2] / "models" / "lenet300.npz"
    (tmp_path / "a-file").write_text("")
    result = run_cli("decompress", shipped, "-o", tmp_path / "a-file" / "d.npz")
    assert_clean_error(result, "a-file is a file, not a folder")


def test_pack_writes_image_manifest_and_hex(tmp_path):
    from tinyeie.sw.compiler.image import load_image
    out = tmp_path / "packed"
    result = run_cli("pack", Path(__file__).resolve().parents[2] / "models" / "lenet300.npz",
                     "--pes", "4", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "engine integers 1.1" in result.stdout
    packed = load_image(out / "model.bin")
    assert packed.config.pes == 4 and packed.n_layers == 3
    assert (out / "manifest.json").is_file() and (out / "mem" / "pe3.hex").is_file()


def test_pack_refuses_a_model_too_large_for_the_engine(tmp_path):
    result = run_cli("pack", Path(__file__).resolve().parents[2] / "models" / "lenet300.npz",
                     "--pes", "2", "--pe-depth", "4096", "-o", tmp_path / "p")
    assert_clean_error(result, "does not fit: PE memory words")
    assert "the engine has 4,096" in result.stderr


def test_pack_refuses_a_convolutional_model(tmp_path):
    result = run_cli("pack", Path(__file__).resolve().parents[2] / "models" / "lenet5.npz",
                     "-o", tmp_path / "p")
    assert_clean_error(result, "fully-connected")


def test_verilog_refuses_an_image_for_another_engine(tmp_path):
    out = tmp_path / "packed"
    assert run_cli("pack", Path(__file__).resolve().parents[2] / "models" / "lenet300.npz",
                   "--pes", "4", "-o", out).returncode == 0
    result = run_cli("verilog", "--pes", "8", "--init", out, "-o", tmp_path / "e.v")
    assert_clean_error(result, "packed for pes=4, the engine has pes=8")


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("tinyeie 0.")


def test_every_help_shows_its_defaults():
    from tinyeie.cli.main import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            if (not action.option_strings or action.default is None or action.default is False
                    or action.default == "==SUPPRESS=="):
                continue
            shown = " ".join(command._get_formatter()._get_help_string(action).split())
            assert "default" in shown, (name, action.dest)
        text = " ".join(command.format_help().split())
        assert "(default: 0)" in text or "--seed" not in text, name


def test_sim_without_a_compiler_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))     # no c++, ar or make
    assert main(["sim", str(tmp_path / "model.bin")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a C++ compiler and make" in err[0]
    assert "c++, ar, make are not installed" in err[0] and "build-essential" in err[0]
