"""The layouts' helpers and the widths derived from the layouts."""

from tinyeie.contract.layouts import (
    CODEBOOK_OFFSET,
    CODEBOOK_SIZE,
    COUNT_BITS,
    LAYER_WORDS,
    MAX_SHIFT,
    REL_BITS,
    Descriptor,
    from_words,
    pack_bits,
    to_signed,
    to_words,
    unpack_bits,
)


def test_widths_follow_the_layouts():
    assert (COUNT_BITS, MAX_SHIFT, CODEBOOK_SIZE, REL_BITS) == (12, 31, 16, 4)
    assert CODEBOOK_OFFSET + CODEBOOK_SIZE <= LAYER_WORDS


def test_words_round_trip():
    value = 0x1234_5678_9ABC
    assert to_words(value, 3) == [0x9ABC, 0x5678, 0x1234]
    assert from_words(to_words(value, 3)) == value


def test_to_signed_wraps_like_a_register():
    assert list(to_signed([0, 1, 0x7F, 0x80, 0xFF, 0x100], 8)) == [0, 1, 127, -128, -1, 0]


def test_descriptor_fields_round_trip():
    fields = dict(in_count=784, out_count=300, col_base=17, bias_base=9000, shift=13,
                  bias_shift=2, relu=1, last=0)
    assert unpack_bits(Descriptor, pack_bits(Descriptor, **fields)) == fields
