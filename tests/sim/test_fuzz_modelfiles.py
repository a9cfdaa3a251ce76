"""The model-file fuzzer: its cases are all malformed, every reader refuses each with a
TinyeieError, and a short slice through the real commands gives one-line errors, exit 2."""

import numpy as np
import pytest

from tinyeie.contract.errors import TinyeieError
from tinyeie.sim.bad_modelfiles import generate
from tinyeie.sim.fuzz_modelfiles import PEAK_RSS_BOUND_MB, fuzz
from tinyeie.sw.compiler.image import load_image
from tinyeie.sw.compress.floatfile import load_float
from tinyeie.sw.compress.modelfile import load_model

READERS = {"compressed": load_model, "float": load_float, "image": load_image}


def test_the_generator_is_reproducible(tmp_path):
    a = generate(tmp_path / "a", 30, seed=5)
    b = generate(tmp_path / "b", 30, seed=5)
    assert [c.mutation for c in a] == [c.mutation for c in b]
    assert all(x.path.read_bytes() == y.path.read_bytes() for x, y in zip(a, b)
               if x.path.is_file())


@pytest.mark.parametrize("seed", [11])
def test_every_case_is_refused_by_its_reader(tmp_path, seed):
    """In-process, 200 cases: each reader raises a TinyeieError, nothing else."""
    cases = generate(tmp_path, 200, seed=seed)
    assert {c.kind for c in cases} == set(READERS)
    for case in cases:
        with pytest.raises(TinyeieError), np.errstate(all="raise"):
            READERS[case.kind](case.path)


def test_the_command_line_slice():
    """A short slice of `make fuzz-modelfiles`: 4 files through every command that reads
    them (about 20 runs)."""
    figures = fuzz(cases=4, seed=3, jobs=2, progress=False)
    assert figures["tried"] >= 4
    assert figures["refused"] == figures["tried"], figures["failures"]
    assert figures["peak_rss_mb_max"] < PEAK_RSS_BOUND_MB
