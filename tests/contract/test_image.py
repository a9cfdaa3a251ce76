"""The model image's layout and the loader's rules, against what they are meant to say."""

import struct
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.image import (
    HEADER_WORDS,
    MAGIC,
    SECTION_WORDS,
    VERSION,
    ImageHeader,
    field_word,
    header_words,
    loader_model,
    max_image_bytes,
    read_header,
    section_depth,
)
from tinyeie.contract.layouts import Target
from tinyeie.contract.protocol import LoaderError


def test_header_layout():
    assert HEADER_WORDS == 16 and SECTION_WORDS == 3
    assert [field_word(ImageHeader, name) for name in ("magic", "version", "pe_words",
                                                       "sections", "in_count")] == [0, 2, 10, 12,
                                                                                    13]
    words = header_words(pes=4, pe_words=70_000, in_count=784)
    assert struct.pack("<2H", *words[:2]) == MAGIC and words[2] == VERSION
    assert words[10:12] == [70_000 & 0xFFFF, 70_000 >> 16]
    fields = read_header(words)
    assert fields["pes"] == 4 and fields["pe_words"] == 70_000 and fields["in_count"] == 784


def image_with(config_fields, cfg):
    """A header-only image (no sections) with these header fields, CRC correct."""
    body = struct.pack(f"<{HEADER_WORDS}H", *header_words(**config_fields))
    return body + struct.pack("<I", zlib.crc32(body))


ENGINE = EngineConfig(pes=4, pe_depth=70_000 - 4_464, col_depth=2048, act_depth=1000,
                      max_layers=4)


@settings(max_examples=300, deadline=None)
@given(pes=st.sampled_from([3, 4, 5]), act_width=st.sampled_from([7, 8]),
       act_depth=st.integers(0, 1100), layers=st.integers(0, 6),
       column_rows=st.integers(0, 2100), pe_words=st.integers(0, 140_000),
       in_count=st.integers(0, 1100), out_count=st.integers(0, 1100))
def test_header_rules_say_what_they_mean(pes, act_width, act_depth, layers, column_rows,
                                         pe_words, in_count, out_count):
    """The loader refuses a header exactly when its engine differs or is too small, with the
    first failing field's error in stream order."""
    cfg = ENGINE
    fields = dict(pes=pes, act_width=act_width, code_width=cfg.code_width,
                  acc_width=cfg.acc_width, act_depth=act_depth, layers=layers,
                  column_rows=column_rows, pe_words=pe_words, in_count=in_count,
                  out_count=out_count)
    if pes != cfg.pes or act_width != cfg.act_width:
        expected = LoaderError.CONFIG
    elif (act_depth > cfg.act_depth or layers > cfg.max_layers or column_rows > cfg.col_depth
          or pe_words > cfg.pe_depth or in_count > cfg.act_depth
          or out_count > cfg.act_depth):
        expected = LoaderError.TOO_LARGE
    else:
        expected = LoaderError.NONE
    result = loader_model(image_with(fields, cfg), cfg)
    assert result.done and result.error == expected, result.detail


def test_magic_version_and_crc():
    cfg = EngineConfig()
    good = image_with(dict(pes=4, act_width=8, code_width=8, acc_width=24), cfg)
    assert loader_model(good, cfg).ok
    assert loader_model(b"TEIF" + good[4:], cfg).error == LoaderError.MAGIC
    wrong_version = good[:4] + struct.pack("<H", VERSION + 1) + good[6:]
    assert loader_model(wrong_version, cfg).error == LoaderError.VERSION
    assert loader_model(good[:-1] + bytes([good[-1] ^ 1]), cfg).error == LoaderError.CRC
    assert not loader_model(good[:-1], cfg).done          # cut short: still waiting


def test_sections_name_the_engine_memories():
    cfg = EngineConfig(pes=4, pe_depth=100, col_depth=50, max_layers=2)
    assert section_depth(cfg, Target.PE, 3) == 100 and section_depth(cfg, Target.PE, 4) is None
    assert section_depth(cfg, Target.COLUMNS, 0) == 50
    assert section_depth(cfg, Target.LAYERS, 0) == 64
    assert section_depth(cfg, Target.LAYERS, 1) is None
    assert section_depth(cfg, 3, 0) is None


def test_the_largest_image_is_an_upper_bound():
    cfg = EngineConfig(pes=2, pe_depth=100, col_depth=50, act_depth=40, max_layers=2)
    # every memory full: 16 header words; 2 PE memories, 2 column-table slices (the base, the
    # PEs' offsets), the layer table, each a section of 3 words; the trailer
    words = 16 + 2 * (100 + 3) + 2 * (50 + 3) + (64 + 3) + 2
    assert max_image_bytes(cfg) == 2 * words
