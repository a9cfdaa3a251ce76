"""Waveforms a user asked for (``tinyeie sim --waves FILE``): the format from the file's name,
and the simulator's dump moved there."""

import shutil
from pathlib import Path

from tinyeie.contract.errors import TinyeieError

__all__ = ["wave_format", "keep_waves"]


def wave_format(path):
    """``"fst"`` or ``"vcd"``, as ``path`` ends; a TinyeieError for any other name."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".fst", ".vcd"):
        raise TinyeieError(f"--waves {path}: name the file .fst (compact; GTKWave, Surfer) or "
                           f".vcd (any viewer)")
    return suffix[1:]


def keep_waves(run_dir, path):
    """Move the run's ``dump.fst`` or ``dump.vcd`` to ``path``; returns where it went (with a
    .vcd suffix when FST was asked for but the simulator could only record VCD)."""
    dumps = sorted(Path(run_dir).glob("dump.*"))
    if not dumps:
        raise TinyeieError(f"the simulation wrote no waveform into {run_dir}")
    dump = dumps[0]
    target = Path(path).with_suffix(dump.suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(dump, target)
    return target
