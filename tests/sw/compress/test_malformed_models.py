"""Malformed model files (issue 11, finding 3): each reproduces a file that once ended in a
traceback, a huge allocation or a silently wrong model, and checks it is now refused, at once,
with a message that says what was wrong."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tinyeie.contract.errors import TinyeieError
from tinyeie.sim.bad_modelfiles import (
    _npy,
    _npy_with_header,
    _write_zip,
    _zip_bomb,
    small_compressed,
    small_float,
)
from tinyeie.sim.fuzz_modelfiles import PEAK_WRAPPER
from tinyeie.sw.compress.floatfile import load_float
from tinyeie.sw.compress.modelfile import load_model
from tinyeie.sw.compress.nets import MAX_PARAMETERS, parse_arch
from tinyeie.sw.npzfile import MAX_NPZ_BYTES, NpzFile


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    path = small_compressed(tmp_path_factory.mktemp("base") / "small.npz")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    path = small_float(tmp_path_factory.mktemp("base") / "float.npz")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def with_meta(arrays, edit):
    meta = json.loads(str(arrays["meta"]))
    edit(meta)
    return {**arrays, "meta": np.array(json.dumps(meta))}


def save(tmp_path, arrays):
    path = tmp_path / "case.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(layers=3), "layers is 3, expected a list of layer headers"),
    (lambda m: m.update(layers=None), "layers is null, expected a list"),
    (lambda m: m["layers"][0].update(name=[1, 2]), "name is [1, 2], expected a name"),
    (lambda m: m["layers"][1].update(name="../../x"), "name is \"../../x\", expected a name"),
    (lambda m: m["layers"][0].update(shape=[10 ** 6, 10 ** 6]), "expected [24, 784]"),
    (lambda m: m["layers"][1].update(entries=10 ** 12), "entries is 1000000000000, expected "
                                                        "an integer 0..240"),
    (lambda m: m["layers"][0].update(wbits=10 ** 15), "wbits is 1000000000000000"),
    (lambda m: m["layers"][0].update(bits=True), "bits is true, expected an integer 1..8"),
    (lambda m: m["layers"][0].update(relu=False), "relu is false, expected true on every"),
    (lambda m: m.update(arch="mlp:784-4000-4000-4000-10"), "weights; tinyeie takes networks"),
    (lambda m: m.update(arch="mlp:" + "7" * 300 + "-10"), "at most 256 characters"),
    (lambda m: m.update(history={"float_test_error": "1%"}), "float_test_error is \"1%\""),
    (lambda m: m.update(history={"sweep": {"prune_only": [[0, 1]]}}), "compression rate > 0"),
])
def test_meta_fields_of_the_wrong_type_or_size(tmp_path, compressed, edit, message):
    with pytest.raises(TinyeieError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_model(save(tmp_path, with_meta(compressed, edit)))


def test_a_huffman_code_length_of_40(tmp_path, compressed):
    lens = compressed["L1_wlens"].copy()
    lens[0] = 40
    with pytest.raises(TinyeieError, match="code lengths must be 0..24, got 40"):
        load_model(save(tmp_path, {**compressed, "L1_wlens": lens}))


@pytest.mark.parametrize("part", ["codebook", "bias"])
def test_a_float64_1e300_is_inf_as_float32(tmp_path, compressed, part):
    """The NaN/Inf check once ran before the cast: 1e300 passed and became Inf."""
    values = compressed[f"L1_{part}"].astype(np.float64)
    values[-1] = 1e300
    with pytest.raises(TinyeieError, match=f"{part} holds values that are NaN or Inf as "
                                           f"float32"):
        load_model(save(tmp_path, {**compressed, f"L1_{part}": values}))


def test_a_float64_1e300_in_a_dense_model(tmp_path, dense):
    w = dense["w1"].astype(np.float64)
    w[0, 0] = 1e300
    with pytest.raises(TinyeieError, match="w1 holds values that are NaN or Inf as float32"):
        load_float(save(tmp_path, {**dense, "w1": w}))


@pytest.mark.parametrize("meta, message", [
    ("{not json", "its meta is not valid JSON"),
    ("[1, 2]", "its meta must be a JSON object, not a list"),
    ("[" * 100000, "nested too deeply"),
])
def test_malformed_json_in_a_dense_file(tmp_path, dense, meta, message):
    with pytest.raises(TinyeieError, match=message):
        load_float(save(tmp_path, {**dense, "meta": np.array(meta)}))


def test_a_huge_arch_is_refused_before_building_it(tmp_path, dense):
    for arch, message in [("mlp:784-" + "-".join(["4000"] * 4) + "-10", "weights; tinyeie "
                           "takes networks of at most"),
                          ("x" * 10 ** 6, "1,000,000 characters long, at most 256")]:
        with pytest.raises(TinyeieError, match=message):
            load_float(save(tmp_path, {**dense, "arch": np.array(arch)}))
    assert parse_arch("mlp:784-4095-10") == "mlp:784-4095-10"
    with pytest.raises(TinyeieError, match=f"at most {MAX_PARAMETERS:,}"):
        parse_arch("mlp:784-4095-4095-4095-10")


def test_an_npy_header_declaring_2_to_the_40_elements(tmp_path, compressed):
    members = {f"{k}.npy": _npy(v) for k, v in compressed.items()}
    members["L0_bias.npy"] = _npy_with_header(
        {"descr": "<f4", "fortran_order": False, "shape": (1 << 40,)}, bytes(96))
    path = tmp_path / "case.npz"
    _write_zip(path, members)
    with pytest.raises(TinyeieError, match=r"declares float32 \(1099511627776,\) "
                                           r"\(4,398,046,511,104 bytes\) but holds 96"):
        load_model(path)


def peak_of(code, tmp_path):
    """Run ``code`` in a fresh interpreter; its exit status, stderr and peak resident memory in
    MB (the VmHWM it reports as it exits: ru_maxrss would count this process at the fork)."""
    peak = tmp_path / "peak-kb"
    result = subprocess.run([sys.executable, "-c", PEAK_WRAPPER.replace(
        "from tinyeie.cli.main import _entry\n_entry()", textwrap.dedent(code))],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "TINYEIE_PEAK_FILE": str(peak)})
    return result.returncode, result.stderr, int(peak.read_text()) / 1024


@pytest.mark.parametrize("declared, message", [
    (None, "declares 314,572,800 bytes, more than the"),
    (1000, "has a damaged header (Bad CRC-32"),
])
def test_a_zip_bomb_takes_neither_memory_nor_time(tmp_path, declared, message):
    """A 300 KiB file whose member inflates to 300 MiB once took 1.1 GB and 10 s (a 1 GB one):
    refused from its headers, before inflating, in well under 100 MB."""
    path = tmp_path / "bomb.npz"
    _zip_bomb(path, declared)
    assert path.stat().st_size < 400_000
    status, err, peak = peak_of(f"""
        from tinyeie.sw.npzfile import NpzFile
        NpzFile({str(path)!r}, "float model").read("w0")
    """, tmp_path)
    assert status == 1 and message in err and "TinyeieError" in err, err
    assert peak < 100, f"{peak:.0f} MB"


def test_members_are_bounded_before_the_zip_directory_is_read(tmp_path, compressed):
    path = save(tmp_path, compressed)
    raw = bytearray(path.read_bytes())
    end = raw.rfind(b"PK\x05\x06")
    raw[end + 8:end + 12] = (60000).to_bytes(2, "little") * 2
    path.write_bytes(bytes(raw))
    with pytest.raises(TinyeieError, match="declares 60,000 members, at most 16,384"):
        load_model(path)


def test_a_file_over_the_budget_is_refused_unread(tmp_path):
    path = tmp_path / "big.npz"
    with open(path, "wb") as f:
        f.truncate(MAX_NPZ_BYTES + 1)
    with pytest.raises(TinyeieError, match="model file is at most 268,435,456"):
        NpzFile(path, "model")


def test_the_shipped_models_still_load():
    from pathlib import Path
    models = Path(__file__).resolve().parents[3] / "models"
    assert load_model(models / "lenet300.npz").arch == "mlp:784-300-100-10"
    assert load_model(models / "lenet5.npz").arch == "lenet5"


@pytest.mark.parametrize("name", ["L0_codebook", "L1_bias"])
def test_finite_weights_too_large_for_float32_to_evaluate(tmp_path, compressed, name):
    """3e38 is a finite float32, but the network's outputs overflow: stats once printed a 90%
    error and pack wrote a model image, both exit 0."""
    values = compressed[name].copy()
    values[-1] = 3e38
    with pytest.raises(TinyeieError, match="can drive its outputs to .*past 1e.30"):
        load_model(save(tmp_path, {**compressed, name: values}))
    values[-1] = 1000.0                                    # large, but no overflow
    load_model(save(tmp_path, {**compressed, name: values}))


def test_the_value_range_of_a_dense_model(tmp_path, dense):
    w = dense["w0"].copy()
    w[0, 0] = 1e20
    with pytest.raises(TinyeieError, match="layer 1's weights"):
        load_float(save(tmp_path, {**dense, "w0": w, "w1": dense["w1"] * 1e10}))
