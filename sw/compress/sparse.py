"""Sparse storage with relative indices, as in Deep Compression (Fig. 3) and EIE.

A run of positions is stored as entries ``(v, z)``: ``v`` the codebook index of the weight and
``z`` the number of zeros skipped before it. ``z`` has a fixed bit width; a gap wider than
``2**bits - 1`` is bridged by *filler* entries ``(0, 2**bits - 1)`` whose weight is exactly
zero, each advancing the position by ``2**bits``.

Two layouts are built from that one encoder:

* the paper's: the whole weight matrix flattened row-major into one run (``flat_encode``);
* the engine's CSC: row ``i`` belongs to PE ``i % pes`` as its local row ``i // pes``; every PE
  stores, column by column, its own run, with a pointer array giving each column's bounds
  (``csc_encode``).
"""

from dataclasses import dataclass

import numpy as np

from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.structure import pe_rows

__all__ = ["relative_encode", "relative_decode", "flat_encode", "flat_decode",
           "PEStream", "csc_encode", "csc_decode", "pe_rows"]


def relative_encode(positions, values, bits):
    """Encode sorted distinct ``positions`` carrying non-zero ``values`` as ``(v, z)`` arrays.

    >>> v, z = relative_encode(np.array([1, 20]), np.array([3, 5]), bits=3)
    >>> v.tolist(), z.tolist()
    ([3, 0, 0, 5], [1, 7, 7, 2])
    """
    positions = np.asarray(positions, dtype=np.int64)
    values = np.asarray(values)
    if len(positions) and (np.any(np.diff(positions) <= 0) or positions[0] < 0):
        raise ValueError("positions must be non-negative and strictly increasing")
    if np.any(values == 0):
        raise ValueError("values must be non-zero: value 0 is reserved for fillers")
    span = 1 << bits
    gaps = np.diff(positions, prepend=-1) - 1
    fillers = gaps // span
    # Each entry is preceded by its fillers: entry k lands at out[k + fillers[:k+1].sum()].
    out_pos = np.arange(len(positions)) + np.cumsum(fillers)
    total = len(positions) + int(fillers.sum())
    v = np.zeros(total, dtype=np.uint8)
    z = np.full(total, span - 1, dtype=np.uint8)
    v[out_pos] = values
    z[out_pos] = gaps - fillers * span
    return v, z


def relative_decode(v, z, bits):
    """Inverse of :func:`relative_encode`: the ``(positions, values)`` of the real entries."""
    v = np.asarray(v)
    steps = np.asarray(z, dtype=np.int64) + 1
    pos = np.cumsum(steps) - 1
    real = v != 0
    return pos[real], v[real]


def flat_encode(index, bits):
    """The paper's layout: ``index`` (any shape) flattened row-major into one relative run."""
    flat = np.asarray(index).reshape(-1)
    positions = np.flatnonzero(flat)
    return relative_encode(positions, flat[positions], bits)


def flat_decode(v, z, bits, shape):
    """Inverse of :func:`flat_encode`."""
    positions, values = relative_decode(v, z, bits)
    flat = np.zeros(int(np.prod(shape)), dtype=np.uint8)
    if len(positions) and positions[-1] >= flat.size:
        raise TinyeieError(f"relative indices run to position {positions[-1]}, past the "
                           f"{flat.size} weights of a {tuple(shape)} layer")
    flat[positions] = values
    return flat.reshape(shape)


@dataclass(frozen=True)
class PEStream:
    """One PE's share of a layer in CSC form.

    ``v``/``z`` hold the entries of all columns back to back; column ``j``'s entries are
    ``ptr[j]:ptr[j + 1]``. Local row ``r`` of PE ``p`` is global row ``r * pes + p``.
    """

    v: np.ndarray
    z: np.ndarray
    ptr: np.ndarray

    @property
    def entries(self):
        return len(self.v)


def csc_encode(index, pes, bits=4):
    """Split an (out, in) codebook-index matrix over ``pes`` PEs as column-wise relative runs.

    Returns one :class:`PEStream` per PE; a PE with no rows gets empty runs.
    """
    index = np.asarray(index)
    if index.ndim != 2:
        raise ValueError(f"index matrix must be 2-D, got shape {index.shape}")
    if pes < 1:
        raise ValueError(f"pes must be at least 1, not {pes}")
    rows, cols = index.shape
    streams = []
    for pe in range(pes):
        local = index[pe::pes]
        vs, zs, ptr = [], [], [0]
        for j in range(cols):
            positions = np.flatnonzero(local[:, j])
            v, z = relative_encode(positions, local[positions, j], bits)
            vs.append(v)
            zs.append(z)
            ptr.append(ptr[-1] + len(v))
        streams.append(PEStream(v=np.concatenate(vs) if vs else np.zeros(0, np.uint8),
                                z=np.concatenate(zs) if zs else np.zeros(0, np.uint8),
                                ptr=np.array(ptr, dtype=np.int64)))
    return streams


def csc_decode(streams, shape, bits=4):
    """Inverse of :func:`csc_encode`: the (out, in) index matrix."""
    rows, cols = shape
    pes = len(streams)
    index = np.zeros(shape, dtype=np.uint8)
    for pe, s in enumerate(streams):
        if len(s.ptr) != cols + 1:
            raise TinyeieError(f"PE {pe} has {len(s.ptr) - 1} column pointers, the layer has "
                               f"{cols} columns")
        local_rows = pe_rows(rows, pes, pe)
        for j in range(cols):
            lo, hi = s.ptr[j], s.ptr[j + 1]
            positions, values = relative_decode(s.v[lo:hi], s.z[lo:hi], bits)
            if len(positions) and positions[-1] >= local_rows:
                raise TinyeieError(f"PE {pe} column {j} reaches local row {positions[-1]}, the "
                                   f"PE owns {local_rows} rows")
            index[positions * pes + pe, j] = values
    return index
