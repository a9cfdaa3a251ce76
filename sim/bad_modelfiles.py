"""Malformed model files, made on purpose, for :mod:`tinyeie.sim.fuzz_modelfiles`.

Each case is a valid file (a small compressed MLP made without training, the shipped
LeNet-300-100 and LeNet-5, a float MLP, a model image) damaged in one of the ways a careless user
or an attacker could: the zip container (truncated, a byte flipped in a member, a member that
inflates past its declared size or past any bound, too many members, a duplicate, encryption,
bzip2), an ``.npy`` header (a shape of 2**40 elements, one that disagrees with the bytes, an
object or structured dtype, negative dimensions, version 9), an array (wrong dtype or shape,
NaN, a float64 1e300 that is Inf as float32, a finite 3e38 whose outputs would overflow, a
Huffman code length of 40, a stream cut short), the meta JSON (malformed text, nested 100,000
deep, every field of the wrong JSON type or out of range, a huge or unknown ``arch``, a history
``report`` cannot plot), or a model image (cut short, bytes flipped, garbage, 64 MiB, a folder).
Every mutator changes something a valid file cannot have, so every case must be refused; the
generator is seeded and writes the same bytes for the same seed.
"""

import copy
import json
import struct
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Case", "small_compressed", "small_float", "small_image", "make_bases", "generate"]

_REPO = Path(__file__).resolve().parent.parent


@dataclass
class Case:
    """One malformed file: its kind (a key of :data:`COMMANDS`), the base it was made from,
    what was done to it, and its path."""

    kind: str
    base: str
    mutation: str
    path: Path


# -- the valid files the cases are made from ------------------------------------------------

def small_compressed(path):
    """Write a small valid compressed model (mlp:784-24-10, random sparse weights, a history
    with every part `tinyeie report` plots) to ``path``, without training anything."""
    from tinyeie.sw.compress.modelfile import CompressedModel, encode_layer, save_model

    rng = np.random.default_rng(2024)
    layers, history_layers = [], []
    for i, (n_in, n_out) in enumerate([(784, 24), (24, 10)]):
        index = np.where(rng.random((n_out, n_in)) < 0.1, rng.integers(1, 16, (n_out, n_in)), 0)
        codebook = np.r_[0.0, np.sort(rng.normal(0, 0.1, 15))].astype(np.float32)
        layers.append(encode_layer(f"ip{i + 1}", "fc", codebook, index.astype(np.uint8),
                                   rng.normal(0, 0.1, n_out), relu=i == 0, bits=4))
        counts, edges = np.histogram(codebook[index][index > 0], bins=20)
        history_layers.append({"hist_counts": counts.tolist(), "hist_edges": edges.tolist(),
                               "inits": {"linear": codebook[1:].tolist()},
                               "codebook_initial": codebook[1:].tolist(),
                               "codebook_finetuned": codebook[1:].tolist()})
    history = {"float_test_error": 0.02, "layers": history_layers,
               "sweep": {"prune_only": [[2.0, 0.03], [5.0, 0.04]]}}
    save_model(path, CompressedModel("mlp:784-24-10", layers, history))
    return Path(path)


def small_float(path):
    """Write a valid float model (mlp:784-32-10, untrained) to ``path``."""
    from tinyeie.sw.compress.floatfile import save_float
    from tinyeie.sw.compress.nets import build

    save_float(path, build("mlp:784-32-10", seed=3), {"test_error": 0.5})
    return Path(path)


def small_image(path):
    """Write a valid model image (784-24-10, random integer layers, the default engine)."""
    from tinyeie.contract.config import EngineConfig
    from tinyeie.sw.compiler.image import write_image
    from tinyeie.sw.compiler.pack import pack
    from tinyeie.sw.compiler.random_model import random_layers

    cfg = EngineConfig()
    layers = random_layers(np.random.default_rng(5), [784, 24, 10], cfg=cfg)
    Path(path).write_bytes(write_image(pack(layers, cfg)))
    return Path(path)


def make_bases(folder):
    """Valid model files to damage: ``{name: (kind, path)}``. A small compressed MLP made
    without training, the shipped LeNet-300-100 and LeNet-5, a float MLP, and a model image."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bases = {"small": ("compressed", small_compressed(folder / "small.npz"))}
    for name in ("lenet300", "lenet5"):
        bases[name] = ("compressed", _REPO / "models" / f"{name}.npz")
    bases["float"] = ("float", small_float(folder / "float.npz"))
    bases["image"] = ("image", small_image(folder / "model.bin"))
    return bases


# -- writing .npz files member by member ----------------------------------------------------

def _npy(array):
    """The bytes numpy writes for ``array`` as an .npy file."""
    import io
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def _npy_with_header(header_dict, data):
    """An .npy file with a header of our choosing (version 1.0) before ``data``."""
    text = repr(header_dict)
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1") + data


def _write_zip(path, members, compress=zipfile.ZIP_STORED):
    """A zip of ``members`` (name -> bytes) as ``np.savez`` lays one out, with a fixed
    timestamp so that a seed gives the same bytes every run."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression=compress) as z:
        warnings.simplefilter("ignore")         # a duplicate name is one of the cases
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data,
                       compress_type=compress)


def _members(arrays):
    return {f"{k}.npy": _npy(v) for k, v in arrays.items()}


def _load_arrays(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


# -- mutators: each returns (name, writer) where writer(path) makes the file ------------------

_BAD_VALUES = [None, True, False, -1, 0, 2 ** 40, 10 ** 30, 1e300, 4.5, "4", "", "x" * 300,
               [], [1, 2], [[3]], {}, {"a": 1}]
_BAD_NAMES = [None, 3, [1, 2], {}, "", "../../escape", "a/b", "$\\frac{1}{0}$", "x" * 40, True]


def _meta_of(arrays):
    return json.loads(str(arrays["meta"]))


def _with_meta(arrays, meta, text=None):
    out = dict(arrays)
    out["meta"] = np.array(json.dumps(meta) if text is None else text)
    return out


def _mutate_layer_field(rng, arrays):
    meta = _meta_of(arrays)
    i = int(rng.integers(len(meta["layers"])))
    header = meta["layers"][i]
    key = str(rng.choice(["name", "kind", "shape", "bits", "rel_bits", "entries", "wbits",
                          "rbits", "relu", "missing"]))
    if key == "missing":
        key = str(rng.choice(sorted(header)))
        del header[key]
        return f"meta.layers[{i}] without {key}", _with_meta(arrays, meta)
    pool = _BAD_NAMES if key == "name" else _BAD_VALUES
    value = pool[int(rng.integers(len(pool)))]
    if key == "shape" and rng.random() < 0.5:
        value = [int(v) for v in rng.choice([10 ** 6, 10 ** 9, -5, 0, 3], size=2)]
    if key in ("entries", "wbits", "rbits") and rng.random() < 0.5:
        value = header[key] + int(rng.choice([-3, -1, 1, 7, 10 ** 12]))
    if key == "relu":
        value = not header["relu"] if rng.random() < 0.5 else value
    if key == "kind":
        value = "conv" if header["kind"] == "fc" else "fc"
    if key == "bits" and rng.random() < 0.5:
        value = int(rng.choice([1, 2, 3, 5, 8, 9, 40]))
    if value == header[key] and type(value) is type(header[key]):
        value = None
    header[key] = value
    return f"meta.layers[{i}].{key} = {json.dumps(value)[:40]}", _with_meta(arrays, meta)


def _mutate_top_field(rng, arrays):
    meta = _meta_of(arrays)
    key = str(rng.choice(["arch", "layers", "history", "missing"]))
    if key == "missing":
        key = str(rng.choice(["arch", "layers"]))
        del meta[key]
        return f"meta without {key}", _with_meta(arrays, meta)
    if key == "arch":
        value = [None, 3, ["mlp:784-10"], "resnet50", "mlp:784-100000-100000-10",
                 "mlp:" + "-".join(["784"] + ["1"] * 2000 + ["10"]), "mlp:784-0-10",
                 "mlp:784-" + "9" * 40 + "-10", "lenet5" if "conv" not in json.dumps(
                     meta["layers"]) else "lenet300", "MLP:784-10"][int(rng.integers(10))]
        if value == meta["arch"] or (isinstance(value, str) and value.lower() == meta["arch"]):
            value = "mlp:784-7-10"
    elif key == "layers":
        value = [3, None, "ip1", {}, meta["layers"][:-1], meta["layers"] + meta["layers"][-1:],
                 [None] * len(meta["layers"]), [[]] * len(meta["layers"])][int(rng.integers(8))]
    else:
        value = _bad_history(rng, meta.get("history", {}))
    meta[key] = value
    return f"meta.{key} = {json.dumps(value)[:40]}", _with_meta(arrays, meta)


def _bad_history(rng, history):
    history = copy.deepcopy(history)
    choice = int(rng.integers(6))
    if choice == 0:
        return [None, 3, [], "history"][int(rng.integers(4))]
    if choice == 1:
        history["float_test_error"] = ["0.5", None, [0.5], True, {}][int(rng.integers(5))]
    elif choice == 2:
        history["sweep"] = [3, {"prune_only": [[0, 0.1]]}, {"prune_only": [[1]]},
                            {"other": []}, {"quant_only": "x"}][int(rng.integers(5))]
    elif choice == 3:
        history["layers"] = [{"hist_counts": [1, 2], "hist_edges": [0, 1]}]
    elif choice == 4:
        history["layers"] = [{"hist_counts": "x", "hist_edges": [], "codebook_initial": [],
                              "codebook_finetuned": []}]
    else:
        history["layers"] = [7]
    return history


def _mutate_meta_text(rng, arrays):
    text = str(arrays["meta"])
    choice = int(rng.integers(5))
    if choice == 0:
        cut = int(rng.integers(1, len(text) - 1))
        return f"meta JSON cut at {cut}", _with_meta(arrays, None, text[:cut])
    if choice == 1:
        return "meta JSON nested 100000 deep", _with_meta(arrays, None, "[" * 100000)
    if choice == 2:
        value = ["[]", "3", "null", '"meta"', "true"][int(rng.integers(5))]
        return f"meta JSON is {value}", _with_meta(arrays, None, value)
    if choice == 3:
        return "meta JSON with a 5000-digit number", _with_meta(
            arrays, None, text[:-1] + ', "n": ' + "9" * 5000 + "}")
    out = dict(arrays)
    out["meta"] = np.array([text, text])
    return "meta is an array of two strings", out


def _mutate_array(rng, arrays):
    meta = _meta_of(arrays)
    i = int(rng.integers(len(meta["layers"])))
    part = str(rng.choice(["codebook", "bias", "wlens", "rlens", "wstream", "rstream"]))
    name = f"L{i}_{part}"
    a = arrays[name]
    out = dict(arrays)
    choice = int(rng.integers(7))
    if choice == 0:
        del out[name]
        return f"{name} missing", out
    if part in ("codebook", "bias"):
        values = [np.float64(1e300), np.nan, np.inf, -np.inf, np.float64(-3e39)]
        if choice in (1, 2):
            v = a.astype(np.float64)
            v[int(rng.integers(len(v)))] = values[int(rng.integers(len(values)))]
            if part == "codebook" and v[0] == 0 and choice == 2:
                v[0] = 1e300
            out[name] = v
            with np.errstate(over="ignore"):
                bad = v[np.argmax(~np.isfinite(v.astype(np.float32)))]
            return f"{name} float64 with {bad}", out
        if choice == 3 and part == "codebook":
            v = a.copy()
            v[0] = 0.5
            out[name] = v
            return f"{name}[0] = 0.5", out
        if choice == 4:
            v = a.copy()
            v[-1] = np.float32(3e38)            # finite, but the outputs would overflow
            out[name] = v
            return f"{name}[-1] = 3e38 (float32)", out
    if part in ("wlens", "rlens") and choice in (1, 2, 3):
        v = a.copy()
        if choice == 1:
            v[int(rng.integers(len(v)))] = int(rng.choice([25, 40, 255]))
        elif choice == 2:
            v[:] = 1
        else:
            v[:] = 0
        out[name] = v
        return f"{name} = {v.tolist()[:8]}...", out
    if part in ("wstream", "rstream") and choice in (1, 2):
        out[name] = a[:max(0, len(a) - int(rng.integers(1, 5)))] if choice == 1 else np.r_[
            a, np.zeros(3, np.uint8)]
        return f"{name} {'cut short' if choice == 1 else 'three bytes longer'}", out
    # wrong dtype or shape, whatever the part
    kind = int(rng.integers(5))
    if kind == 0:
        out[name] = a.astype(np.int64) if a.dtype.kind == "f" else a.astype(np.float32)
    elif kind == 1:
        out[name] = a.reshape(1, -1)
    elif kind == 2:
        out[name] = np.array([str(x) for x in a.reshape(-1)[:4]])
    elif kind == 3:
        out[name] = a[: len(a) // 2] if len(a) > 1 else np.r_[a, a]
    else:
        out[name] = np.zeros(0, a.dtype)
    return f"{name} as {out[name].dtype} {out[name].shape}", out


def _mutate_float_array(rng, arrays):
    n = sum(1 for k in arrays if k.startswith("w"))
    i = int(rng.integers(n))
    name = f"{'wb'[int(rng.integers(2))]}{i}"
    out = dict(arrays)
    a = arrays[name]
    choice = int(rng.integers(8))
    if choice == 0:
        del out[name]
        return f"{name} missing", out
    if choice in (1, 2):
        v = a.astype(np.float64)
        v.reshape(-1)[int(rng.integers(v.size))] = [1e300, np.nan, np.inf, -1e39][
            int(rng.integers(4))]
        out[name] = v
        return f"{name} float64 with a value Inf as float32", out
    if choice == 3:
        out[name] = a.astype(np.int32) if rng.random() < 0.5 else (a + 1) * np.float32(1e31)
        return f"{name} as {'int32' if out[name].dtype.kind == 'i' else '(1 + it) x 1e31'}", out
    if choice == 4:
        out[name] = a.reshape(-1)[:-1]
        return f"{name} one value short", out
    if choice == 5:
        out[name] = np.concatenate([a, a], axis=0)
        return f"{name} twice as many rows", out
    if choice == 6:
        out[name] = a.astype(np.complex64)
        return f"{name} complex", out
    out[name] = np.array("weights")
    return f"{name} a string", out


def _mutate_float_meta(rng, arrays):
    out = dict(arrays)
    choice = int(rng.integers(5))
    if choice == 0:
        out["meta"] = np.array('{"test_error": 0.5')
        return "meta JSON cut short", out
    if choice == 1:
        out["meta"] = np.array(["[1, 2]", "null", "3", '"x"'][int(rng.integers(4))])
        return f"meta JSON is {out['meta']}", out
    if choice == 2:
        out["arch"] = np.array(["resnet", "mlp:784-64-11", "mlp:784-" + "7" * 200 + "-10",
                                "mlp:784-8000-8000-10", "lenet5", "x" * 10000][
            int(rng.integers(6))])
        return f"arch = {str(out['arch'])[:40]}", out
    if choice == 3:
        out["arch"] = np.array([1, 2, 3])
        return "arch is an integer array", out
    out["meta"] = np.array("[" * 200000)
    return "meta JSON nested 200000 deep", out


def _raw_member_mutation(rng, arrays):
    """An .npy member whose header lies or is hostile; the rest of the file intact."""
    names = sorted(arrays)
    name = names[int(rng.integers(len(names)))]
    a = np.asarray(arrays[name])
    data = a.tobytes()
    descr = np.lib.format.dtype_to_descr(a.dtype)
    choice = int(rng.integers(8))
    if choice == 0:
        header = {"descr": descr, "fortran_order": False, "shape": (1 << 40,)}
        what = "shape (2**40,)"
    elif choice == 1:
        header = {"descr": descr, "fortran_order": False, "shape": (a.size + 1,)}
        what = "one element more than its bytes"
    elif choice == 2:
        header = {"descr": "|O", "fortran_order": False, "shape": a.shape}
        what = "object dtype"
    elif choice == 3:
        header = {"descr": [("a", "<f4"), ("b", "<i4")], "fortran_order": False,
                  "shape": (len(data) // 8,)}
        data = data[: 8 * (len(data) // 8)]
        what = "a structured dtype"
    elif choice == 4:
        header = {"descr": descr, "fortran_order": False, "shape": (-1, -a.size)}
        what = "negative dimensions"
    elif choice == 5:
        header = {"descr": "<U0", "fortran_order": False, "shape": (10 ** 12,)}
        data = b""
        what = "10**12 strings of zero characters"
    elif choice == 6:
        members = _members(arrays)
        members[f"{name}.npy"] = b"\x93NUMPY\x09\x00" + members[f"{name}.npy"][8:]
        return f"{name} .npy version 9", members
    else:
        members = _members(arrays)
        members[f"{name}.npy"] = b"\x93NUMPY\x01\x00\xff\xff" + b" " * 100
        return f"{name} .npy header declares 65535 bytes, holds 100", members
    members = _members(arrays)
    members[f"{name}.npy"] = _npy_with_header(header, data)
    return f"{name} .npy header: {what}", members


def _cut(rng, raw, path, what):
    """Write ``raw`` cut short at a random byte to ``path``."""
    cut = int(rng.integers(0, len(raw)))
    path.write_bytes(raw[:cut])
    return f"{what} cut at byte {cut} of {len(raw)}"


def _zip_mutation(rng, arrays, base_path, path):
    """Damage at the zip level; writes ``path`` and returns what was done."""
    raw = Path(base_path).read_bytes()
    choice = int(rng.integers(11))
    if choice == 0:
        return _cut(rng, raw, path, "file")
    if choice == 1:
        # flip a byte inside a member's data: the zip's CRC-32 must catch it
        with zipfile.ZipFile(base_path) as z:
            info = z.infolist()[int(rng.integers(len(z.infolist())))]
        # the data starts after the local header, whose extra field may differ from the
        # directory's (numpy writes a zip64 one there)
        name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:
                                                       info.header_offset + 30])
        start = info.header_offset + 30 + name_len + extra_len
        at = start + int(rng.integers(max(1, info.compress_size)))
        damaged = bytearray(raw)
        damaged[at] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(damaged))
        return f"bit flipped in {info.filename} data"
    if choice == 2:
        _zip_bomb(path, declared=None)
        return "zip bomb: a member inflating to 300 MiB"
    if choice == 3:
        _zip_bomb(path, declared=1000)
        return "zip bomb: a member declaring 1000 bytes, inflating to 300 MiB"
    if choice == 4:
        members = _members(arrays)
        members["notes.txt"] = b"hello"
        _write_zip(path, members)
        return "a member that is not an .npy array"
    if choice == 5:
        members = list(_members(arrays).items())
        _write_zip(path, dict(members))
        with warnings.catch_warnings(), zipfile.ZipFile(path, "a") as z:
            warnings.simplefilter("ignore")
            z.writestr(zipfile.ZipInfo(members[0][0], date_time=(2024, 1, 1, 0, 0, 0)),
                       b"\x93NUMPY")
        return "a member twice"
    if choice == 6:
        _write_zip(path, _members(arrays), compress=zipfile.ZIP_BZIP2)
        return "bzip2-compressed members"
    if choice == 7:
        damaged = bytearray(raw)
        at = damaged.rfind(b"PK\x05\x06")
        damaged[at + 8:at + 12] = struct.pack("<HH", 60000, 60000)
        path.write_bytes(bytes(damaged))
        return "end record declaring 60000 members"
    if choice == 8:
        path.write_bytes(bytes(rng.integers(0, 256, int(rng.integers(0, 4096)), np.uint8)))
        return "random bytes"
    if choice == 9:
        damaged = bytearray(raw)
        with zipfile.ZipFile(base_path) as z:
            info = z.infolist()[0]
        damaged[info.header_offset + 6] |= 1            # the local header's encrypted flag
        damaged[damaged.find(b"PK\x01\x02") + 8] |= 1    # and the directory's
        path.write_bytes(bytes(damaged))
        return "first member marked encrypted"
    path.write_bytes(b"")
    return "an empty file"


_BOMBS = {}


def _zip_bomb(path, declared):
    """A member ``w0.npy`` of 300 MiB (a valid header for 300 MiB of float32 zeros) deflated to
    about 300 KiB; with ``declared``, its size in the zip headers is patched to claim only that
    many bytes. Made once per process and copied."""
    if declared not in _BOMBS:
        size = 300 << 20
        header = _npy_with_header({"descr": "<f4", "fortran_order": False,
                                   "shape": ((size - 128) // 4,)}, b"")
        header = header[:128] if len(header) >= 128 else header
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        parts = [compressor.compress(header)]
        crc = zlib.crc32(header)
        block = bytes(1 << 20)
        left = size - len(header)
        while left:
            piece = block[:min(left, len(block))]
            parts.append(compressor.compress(piece))
            crc = zlib.crc32(piece, crc)
            left -= len(piece)
        parts.append(compressor.flush())
        data = b"".join(parts)
        name = b"w0.npy"
        file_size = size if declared is None else declared
        local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data),
                            file_size, len(name), 0) + name
        central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc,
                              len(data), file_size, len(name), 0, 0, 0, 0, 0, 0) + name
        end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central),
                          len(local) + len(data), 0)
        _BOMBS[declared] = local + data + central + end
    path.write_bytes(_BOMBS[declared])


def _big_float(path):
    """The largest float model the readers take, mlp:784-20000-10 (15.9 million weights, 61 MiB
    of zeros deflated to 60 KiB), with a NaN in its very last bias: the file a reader has to
    take whole before it can refuse it, for the peak memory."""
    if "big" not in _BOMBS:
        folder = Path(tempfile.mkdtemp(prefix="tinyeie-big-"))
        b1 = np.zeros(10, np.float32)
        b1[-1] = np.nan
        np.savez_compressed(folder / "big.npz", w0=np.zeros((20000, 784), np.float32),
                            b0=np.zeros(20000, np.float32), w1=np.zeros((10, 20000), np.float32),
                            b1=b1, arch=np.array("mlp:784-20000-10"))
        _BOMBS["big"] = (folder / "big.npz").read_bytes()
        (folder / "big.npz").unlink()
        folder.rmdir()
    path.write_bytes(_BOMBS["big"])
    return "mlp:784-20000-10, all 61 MiB of weights valid, NaN in the last bias"


def _image_mutation(rng, raw, path):
    choice = int(rng.integers(8))
    if choice == 0:
        return _cut(rng, raw, path, "image")
    if choice == 1:
        damaged = bytearray(raw)
        for _ in range(int(rng.integers(1, 4))):
            damaged[int(rng.integers(len(raw)))] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(damaged))
        return "bits flipped (CRC-32 not recomputed)"
    if choice == 2:
        path.write_bytes(raw + bytes(rng.integers(0, 256, int(rng.integers(1, 64)), np.uint8)))
        return "bytes after the trailer"
    if choice == 3:
        path.write_bytes(b"XXXX" + raw[4:])
        return "wrong magic"
    if choice == 4:
        path.write_bytes(bytes(rng.integers(0, 256, int(rng.integers(0, 4096)), np.uint8)))
        return "random bytes"
    if choice == 5:
        with open(path, "wb") as f:        # sparse: 64 MiB that take no disk
            f.truncate(64 << 20)
        return "64 MiB of zeros"
    if choice == 6:
        path.write_bytes(b"")
        return "an empty file"
    path.mkdir()
    return "a folder without model.bin"


def generate(folder, cases, seed, bases=None):
    """``cases`` malformed files in ``folder``, made by a generator seeded with ``seed``:
    about 70% compressed models, 15% float models, 15% model images."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bases = bases or make_bases(folder / "bases")
    rng = np.random.default_rng(seed)
    compressed = [name for name, (kind, _) in bases.items() if kind == "compressed"]
    out = []
    for k in range(cases):
        pick = rng.random()
        path = folder / f"case{k:05d}"
        if pick < 0.7:
            base = compressed[int(rng.integers(len(compressed)))]
            kind = "compressed"
        else:
            base = "float" if pick < 0.85 else "image"
            kind = bases[base][0]
        base_path = bases[base][1]
        path = path.with_suffix(".bin" if kind == "image" else ".npz")
        if kind == "image":
            what = _image_mutation(rng, base_path.read_bytes(), path)
        else:
            arrays = _load_arrays(base_path)
            layer = int(rng.integers(10))
            if kind == "float" and rng.random() < 0.1:
                what = _big_float(path)
            elif layer < 2:
                what = _zip_mutation(rng, arrays, base_path, path)
            elif layer < 4:
                what, members = _raw_member_mutation(rng, arrays)
                _write_zip(path, members)
            else:
                if kind == "float":
                    mutators = [_mutate_float_array, _mutate_float_meta]
                else:
                    mutators = [_mutate_layer_field, _mutate_top_field, _mutate_meta_text,
                                _mutate_array, _mutate_array]
                what, changed = mutators[int(rng.integers(len(mutators)))](rng, arrays)
                _write_zip(path, _members(changed), compress=zipfile.ZIP_STORED
                           if rng.random() < 0.5 else zipfile.ZIP_DEFLATED)
        out.append(Case(kind, base, what, path))
    return out
