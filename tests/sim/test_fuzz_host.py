"""The host fuzzer: seeded and reproducible, and a short slice of it finds no crash or hang."""

from tinyeie.sim.fuzz_host import fuzz


def test_the_fuzzer_is_reproducible():
    a, b = fuzz(60, seed=4, progress=False), fuzz(60, seed=4, progress=False)
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_the_fuzzer_slice():
    """A short slice of `make fuzz-host`: 400 damaged exchanges, none crashes or hangs."""
    from tinyeie.sim.fuzz_host import fuzz

    figures = fuzz(400, seed=7, progress=False)
    assert figures["crashed"] == figures["hung"] == figures["wrong"] == 0, figures["failures"]
    assert figures["refused"] > 100 and figures["accepted"] > 100
