"""`import tinyeie`: the steps as functions, loaded only when used."""

import subprocess
import sys

import pytest

import tinyeie


def python(code):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_serial_host_loads_without_amaranth():
    # tinyeie/__init__.py runs before any tinyeie.* module: it must not pull the HDL in.
    loaded = python("import sys, tinyeie.sw.host.board, tinyeie.contract.protocol; "
                    "print(sorted(m for m in sys.modules if m.split('.')[0] == 'amaranth' "
                    "or m in ('tinyeie.flow', 'tinyeie.sim', 'tinyeie.boards')))")
    assert loaded == "[]"


def test_import_tinyeie_loads_nothing_until_a_name_is_used():
    assert python("import sys, tinyeie; print(sorted(m for m in sys.modules "
                  "if m.startswith('tinyeie.') or m == 'amaranth'))") == "[]"
    assert python("import sys, tinyeie; tinyeie.Board; print('tinyeie.flow' in sys.modules, "
                  "'amaranth' in sys.modules)") == "False False"


def test_the_names_it_gives():
    from tinyeie.flow import compress, simulate
    from tinyeie.sw.host.board import Board

    assert tinyeie.compress is compress and tinyeie.simulate is simulate
    assert tinyeie.Board is Board
    assert {"compress", "pack", "simulate", "build", "Board", "connect"} <= set(dir(tinyeie))
    assert tinyeie.__version__.count(".") >= 2
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        tinyeie.__getattr__("nonsense")
