import pytest

from tinyeie.sw.compress.sizes import sharing_ratio


def test_worked_example_from_the_paper():
    # 16 weights of 32 bits shared over 4 values: 16*32 / (16*2 + 4*32) = 3.2x.
    assert sharing_ratio(n=16, b=32, k=4) == pytest.approx(3.2)
