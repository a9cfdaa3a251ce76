"""A byte-wide CRC unit that restarts through its reset (the protocol's CRC-16 and the
loader's CRC-32)."""

from amaranth.hdl import ResetInserter, Signal

__all__ = ["restartable_crc"]


def restartable_crc(m, algorithm, restart=None):
    """Add a byte-wide ``algorithm`` (an ``amaranth.lib.crc.catalog`` entry) CRC unit to ``m``
    as ``m.submodules.crc``, restarted while ``restart`` is high (a new Signal if None).

    Restarted through its reset rather than its ``start``: ``start`` may come with a byte, which
    puts a multiplexer in front of every XOR tree (60 LUTs for the CRC-32); here it never does.
    Returns ``(unit, restart)``.
    """
    unit = algorithm(data_width=8).create()
    restart = Signal() if restart is None else restart
    m.submodules.crc = ResetInserter(restart)(unit)
    return unit, restart
