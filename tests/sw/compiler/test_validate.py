"""One definition of a valid model image: what the loader takes and ``read_image`` refuses
never crashes a reader, and ``read_image`` never takes what the board's loader refuses."""

import numpy as np
import pytest
from amaranth.lib import data

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.layouts import LAYER_WORDS
from tinyeie.sim.fuzz_images import fuzz
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_layers
from tinyeie.sw.compiler.validate import check_packed

CFG = EngineConfig(pes=2, pe_depth=1024, col_depth=128, act_depth=64, max_layers=4)


@pytest.fixture
def packed():
    return pack(random_layers(np.random.default_rng(2), [20, 12, 6], cfg=CFG), CFG)


def test_a_packed_model_is_valid(packed):
    check_packed(packed)


def _with_descriptor_word(packed, layer, word, value):
    table = packed.layer_table.copy()
    table[LAYER_WORDS * layer + word] = value
    return type(packed)(config=packed.config, pe_words=packed.pe_words, columns=packed.columns,
                        layer_table=table)


def test_layers_that_do_not_chain_are_refused(packed):
    # word 0 holds in_count (12 bits) of layer 1: 11 inputs where layer 0 gives 12
    word = int(packed.layer_table[LAYER_WORDS])
    broken = _with_descriptor_word(packed, 1, 0, (word & 0xF000) | 11)
    with pytest.raises(TinyeieError, match="layer 1 takes 11 inputs, layer 0 gives 12"):
        check_packed(broken)
    with pytest.raises(TinyeieError, match="layer 1 takes 11 inputs"):
        Interpreter(broken)


def test_runs_past_the_memory_are_refused(packed):
    columns = packed.columns.copy()
    columns[5, 0] = 0xFFF0         # column 5's shared base far past every PE memory
    broken = type(packed)(config=packed.config, pe_words=packed.pe_words, columns=columns,
                          layer_table=packed.layer_table)
    with pytest.raises(TinyeieError, match="run of column"):
        check_packed(broken)


def test_edited_images_never_crash_a_reader():
    """A slice of `make fuzz-images`: no reader crashes, the board's loader with the model check
    accepts exactly what read_image accepts, and the one without accepts all of that."""
    figures = fuzz(2000, seed=5, progress=False, networks=16)
    assert figures["crashed"] == 0, figures["failures"][:3]
    assert figures["reader_only"] == figures["loader_only"] == 0, figures["failures"][:3]
    assert figures["reader_only_unchecked"] == 0, figures["failures"][:3]
    # the edits reach both sides of the structure rules
    assert figures["reader_accepts"] > 0 and figures["loader_only_unchecked"] > 0


def test_a_weight_past_its_pes_rows_is_refused(packed):
    """Found by the board-top fuzzer (make fuzz-board): a weight on a row the PE never drains
    left its sum in the engine, and the next image's logits differed from the golden model's."""
    from tinyeie.contract.layouts import Entry, pack_entries, unpack_entries
    from tinyeie.sw.compiler.pack import run_bounds

    z = data.Layout.cast(Entry)["z"]
    entries = unpack_entries(packed.pe_words[0])
    start, end = next(run_bounds(packed, j, 0) for j in range(20)
                      if run_bounds(packed, j, 0)[0] < run_bounds(packed, j, 0)[1])
    # layer 0 has 6 rows on each of the 2 PEs: skip 15 rows before the run's first entry
    entries[start] |= ((1 << z.width) - 1) << z.offset
    words = list(packed.pe_words)
    words[0] = pack_entries(entries)
    broken = type(packed)(config=packed.config, pe_words=words, columns=packed.columns,
                          layer_table=packed.layer_table)
    with pytest.raises(TinyeieError, match="puts a weight on its local row 1[5-9]"):
        check_packed(broken)
    with pytest.raises(TinyeieError, match="puts a weight on its local row"):
        Interpreter(broken)


def _with_bias_shift(packed, bias_shift):
    """``packed`` with layer 0's descriptor saying ``bias_shift``."""
    from tinyeie.contract.layouts import (
        DESCRIPTOR_WORDS,
        Descriptor,
        from_words,
        pack_bits,
        to_words,
        unpack_bits,
    )
    fields = unpack_bits(Descriptor, from_words(packed.layer_table[:DESCRIPTOR_WORDS]))
    fields["bias_shift"] = bias_shift
    table = packed.layer_table.copy()
    table[:DESCRIPTOR_WORDS] = to_words(pack_bits(Descriptor, **fields), DESCRIPTOR_WORDS)
    return type(packed)(config=packed.config, pe_words=packed.pe_words, columns=packed.columns,
                        layer_table=table)


def test_a_bias_scaled_at_or_above_its_shift_is_refused(packed):
    """Found by make fuzz-board: such an image passed read_image and then crashed the golden
    model (a negative shift folding the rounding term into the bias)."""
    from tinyeie.sw.compiler.compile import golden_logits
    from tinyeie.sw.compiler.pack import layer_descriptor

    d = layer_descriptor(packed, 0)
    assert d["shift"] > d["bias_shift"]
    broken = _with_bias_shift(packed, d["shift"])
    assert layer_descriptor(broken, 0)["bias_shift"] == d["shift"]
    with pytest.raises(TinyeieError, match="bias is scaled by"):
        check_packed(broken)
    with pytest.raises(TinyeieError, match="bias is scaled by"):
        golden_logits(broken, np.zeros((1, d["in_count"]), dtype=np.int64))
