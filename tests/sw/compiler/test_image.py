"""The binary model image: it round-trips, and every damaged or mismatched image is refused."""

import struct
import zlib

import numpy as np
import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compiler.image import image_sizes, read_image, save_packed, write_image
from tinyeie.sw.compiler.pack import pack, unpack
from tinyeie.sw.compiler.random_model import random_layers

CFG = EngineConfig(pes=3, pe_depth=2048, act_depth=100)


@pytest.fixture
def packed():
    return pack(random_layers(np.random.default_rng(0), [50, 30, 10], cfg=CFG, gap_rows=20),
                CFG)


def reseal(body):
    """An image with its CRC recomputed, to test the checks behind the CRC."""
    return body + struct.pack("<I", zlib.crc32(body))


def test_round_trip(packed):
    back = read_image(write_image(packed), CFG)
    assert back.config == CFG
    for got, want in zip(unpack(back), unpack(packed)):
        np.testing.assert_array_equal(got.index, want.index)
        np.testing.assert_array_equal(got.bias, want.bias)


def test_save_writes_image_manifest_and_hex(packed, tmp_path):
    save_packed(packed, tmp_path)
    assert (tmp_path / "model.bin").read_bytes() == write_image(packed)
    lines = (tmp_path / "mem" / "pe1.hex").read_text().split()
    assert [int(x, 16) for x in lines] == packed.pe_words[1].tolist()
    assert "manifest.json" in {p.name for p in tmp_path.iterdir()}


def test_every_flipped_bit_position_class_is_caught(packed):
    image = bytearray(write_image(packed))
    for at in (0, 10, len(image) // 2, len(image) - 5, len(image) - 1):
        bad = bytearray(image)
        bad[at] ^= 0x10
        with pytest.raises(TinyeieError):
            read_image(bytes(bad))


def test_corruption_names_the_crc(packed):
    image = bytearray(write_image(packed))
    image[100] ^= 1
    with pytest.raises(TinyeieError, match="CRC-32 is 0x[0-9a-f]{8} but the image says"):
        read_image(bytes(image))


@pytest.mark.parametrize("cut", [1, 2, 7, 100])
def test_truncated_image_is_refused(packed, cut):
    with pytest.raises(TinyeieError, match="not a valid tinyeie model image"):
        read_image(write_image(packed)[:-cut])


def test_wrong_magic_and_sections_behind_a_good_crc(packed):
    body = write_image(packed)[:-4]
    with pytest.raises(TinyeieError, match="starts with b'XX', expected b'TEIE'"):
        read_image(reseal(b"XXXX" + body[4:]))
    words = np.frombuffer(body, dtype="<u2").copy()
    words[16] = (0 | 7 << 8)          # first section: PE 7 of a 3-PE model
    with pytest.raises(TinyeieError, match="PE engine does not have"):
        read_image(reseal(words.tobytes()))
    with pytest.raises(TinyeieError, match="follow the last section"):
        read_image(reseal(body + b"\0\0"))


def test_image_for_another_engine_is_refused(packed):
    image = write_image(packed)
    with pytest.raises(TinyeieError, match="packed for pes=3, the engine has pes=4"):
        read_image(image, EngineConfig(pes=4))
    with pytest.raises(TinyeieError, match=r"PE memory words, the engine has 32, [\d,]+ too many"):
        read_image(image, EngineConfig(pes=3, pe_depth=32, act_depth=100))


def test_an_older_image_version_is_refused_clearly(packed):
    words = np.frombuffer(write_image(packed)[:-4], dtype="<u2").copy()
    words[2] = 2                       # the version word of an image made before 8-bit entries
    with pytest.raises(TinyeieError, match="image format version 2 .made by an older tinyeie., "
                                           "this tinyeie reads version 3: pack the model again"):
        read_image(reseal(words.tobytes()))


def test_sizes_add_up_to_the_image(packed):
    sizes = image_sizes(packed)
    assert sizes["bytes"] == len(write_image(packed)) == sum(sizes["total"].values())
    assert sum(layer["entries"] for layer in sizes["layers"]) == sum(
        s["entry_bytes"] for s in packed.stats)
    assert [layer["biases"] for layer in sizes["layers"]] == [2 * 30, 2 * 10]
