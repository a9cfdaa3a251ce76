"""Canonical Huffman coding of small-alphabet symbol streams.

The decode table is the code length of every symbol (0 for symbols that never occur); codes are
assigned canonically from the lengths, so the lengths alone round-trip the stream exactly.
Bits are packed most significant first.
"""

import heapq

import numpy as np

from tinyeie.contract.errors import TinyeieError

__all__ = ["MAX_CODE_LENGTH", "code_lengths", "canonical_codes", "encode", "decode",
           "entropy_bits"]


#: The longest code the encoder writes and the decoder accepts. The decoder's work per bit
#: grows with it, and a declared length is never trusted beyond it.
MAX_CODE_LENGTH = 24
_CHUNK_BITS = 1 << 20       # the decoder looks at the stream this many bits at a time


def code_lengths(counts):
    """Huffman code length of each symbol given its ``counts`` (0 for absent symbols).

    A stream with one distinct symbol still spends one bit per symbol, so it can be decoded
    without knowing its length in advance from the lengths table alone. Codes are kept within
    :data:`MAX_CODE_LENGTH` bits by halving the counts (keeping every present symbol) until the
    tree is shallow enough: only counts shaped like the Fibonacci numbers over millions of
    symbols need it.
    """
    counts = np.asarray(counts, dtype=np.int64)
    while True:
        lengths = _huffman_lengths(counts)
        if lengths.max(initial=0) <= MAX_CODE_LENGTH:
            return lengths
        counts = np.where(counts > 0, (counts + 1) // 2, 0)


def _huffman_lengths(counts):
    lengths = np.zeros(len(counts), dtype=np.int64)
    present = np.flatnonzero(counts)
    if len(present) == 1:
        lengths[present] = 1
        return lengths
    # Heap of (weight, tie-break, symbols under this node); merging deepens every member.
    heap = [(int(counts[s]), int(s), [int(s)]) for s in present]
    heapq.heapify(heap)
    while len(heap) > 1:
        w1, t1, s1 = heapq.heappop(heap)
        w2, t2, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1
        heapq.heappush(heap, (w1 + w2, min(t1, t2), s1 + s2))
    return lengths


def canonical_codes(lengths):
    """Canonical code of each symbol: shorter codes first, ties by symbol value."""
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(len(lengths), dtype=np.int64)
    code = 0
    prev_len = 0
    for s in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[s]) - prev_len
        codes[s] = code
        code += 1
        prev_len = int(lengths[s])
    return codes


def _check_lengths(lengths):
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu" or len(lengths) > 1 << 16:
        raise TinyeieError(f"a Huffman decode table is a vector of code lengths, not "
                           f"{lengths.dtype} {lengths.shape}")
    lengths = lengths.astype(np.int64)
    if np.any(lengths < 0) or np.any(lengths > MAX_CODE_LENGTH):
        bad = int(lengths[(lengths < 0) | (lengths > MAX_CODE_LENGTH)][0])
        raise TinyeieError(f"Huffman code lengths must be 0..{MAX_CODE_LENGTH}, got {bad}")
    used = lengths[lengths > 0]
    # Exact Kraft sum: sum of 2**(max - length) against 2**max.
    if len(used) and int(np.sum(1 << (MAX_CODE_LENGTH - used))) > 1 << MAX_CODE_LENGTH:
        raise TinyeieError(f"Huffman code lengths {lengths.tolist()} do not form a prefix code "
                           f"(Kraft sum over 1)")
    return lengths


def encode(symbols, lengths):
    """Encode ``symbols`` with the canonical code of ``lengths``: ``(packed uint8, n_bits)``."""
    lengths = _check_lengths(lengths)
    symbols = np.asarray(symbols, dtype=np.int64)
    if len(symbols) and np.any(lengths[symbols] == 0):
        raise ValueError("a symbol to encode has no code (length 0)")
    codes = canonical_codes(lengths)
    sym_len = lengths[symbols]
    n_bits = int(sym_len.sum())
    starts = np.cumsum(sym_len) - sym_len
    owner = np.repeat(np.arange(len(symbols)), sym_len)
    offset = np.arange(n_bits) - starts[owner]
    bits = (codes[symbols][owner] >> (sym_len[owner] - 1 - offset)) & 1
    return np.packbits(bits.astype(np.uint8)), n_bits


def decode(packed, n_bits, lengths, count):
    """Decode exactly ``count`` symbols from the first ``n_bits`` bits of ``packed``.

    Every declared size is checked before anything is allocated: ``n_bits`` against the bytes
    there are, ``count`` against ``n_bits`` (a symbol takes at least a bit) and ``n_bits``
    against ``count`` codes of the longest length. The stream is then read a chunk at a time,
    so memory stays bounded whatever the sizes.
    """
    lengths = _check_lengths(lengths)
    packed = np.asarray(packed)
    if packed.ndim != 1 or packed.dtype != np.uint8:
        raise TinyeieError(f"a Huffman stream is a vector of bytes, not {packed.dtype} "
                           f"{packed.shape}")
    n_bits, count = int(n_bits), int(count)
    if n_bits < 0 or count < 0:
        raise TinyeieError(f"a Huffman stream of {n_bits} bits and {count} symbols")
    if n_bits > 8 * len(packed):
        raise TinyeieError(f"Huffman stream claims {n_bits} bits but holds {8 * len(packed)}")
    max_len = int(lengths.max(initial=0))
    if count == 0:
        if n_bits:
            raise TinyeieError(f"Huffman stream has {n_bits} bits but no symbols")
        return np.zeros(0, dtype=np.uint8)
    if max_len == 0:
        raise TinyeieError(f"cannot decode {count} symbols: the code has no symbols")
    if not count * int(lengths[lengths > 0].min()) <= n_bits <= count * max_len:
        raise TinyeieError(f"Huffman stream of {n_bits} bits cannot hold {count} symbols of "
                           f"{int(lengths[lengths > 0].min())}..{max_len} bits")
    # Canonical codes, left-aligned to max_len bits, sorted: the code that starts at a bit is
    # the last one not above the max_len bits there (its limit is the next code's start).
    order = sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s))
    codes = canonical_codes(lengths)
    starts = np.array([int(codes[s]) << (max_len - int(lengths[s])) for s in order], np.int64)
    limits = starts + np.array([1 << (max_len - int(lengths[s])) for s in order], np.int64)
    symbols = np.array(order, dtype=np.int64)
    sym_len = lengths[symbols]
    out = np.zeros(count, dtype=np.uint8)
    i = pos = 0
    while i < count:
        if pos >= n_bits:
            raise TinyeieError(f"Huffman stream ends after {i} of {count} symbols")
        sym_at, len_at = _chunk(packed, n_bits, pos, max_len, starts, limits, symbols, sym_len)
        end = pos + len(sym_at)
        base = pos
        while i < count and pos < end:
            k = pos - base
            if sym_at[k] < 0:
                raise TinyeieError(f"Huffman stream breaks after {i} of {count} symbols (a "
                                   f"bit pattern with no code)")
            out[i] = sym_at[k]
            pos += len_at[k]
            i += 1
    if pos != n_bits:
        raise TinyeieError(f"Huffman stream has {n_bits - pos} bits left after {count} symbols"
                           if pos < n_bits else f"Huffman stream runs {pos - n_bits} bits past "
                           f"its {n_bits} bits")
    return out


def _chunk(packed, n_bits, pos, max_len, starts, limits, symbols, sym_len):
    """The symbol and code length of a code starting at each bit of ``pos .. pos + chunk``
    (-1 where no code starts), as lists for the sequential walk."""
    stop = min(n_bits, pos + _CHUNK_BITS)
    first, last = pos // 8, -(-(stop + max_len) // 8)
    bits = np.unpackbits(packed[first:last]).astype(np.int64)
    bits = np.concatenate([bits, np.zeros(max_len, np.int64)])
    bits[max(0, n_bits - 8 * first):] = 0       # nothing past n_bits counts
    offset = pos - 8 * first
    span = stop - pos
    window = np.zeros(span, dtype=np.int64)
    for k in range(max_len):
        window = (window << 1) | bits[offset + k:offset + k + span]
    at = np.searchsorted(starts, window, side="right") - 1
    hit = (at >= 0) & (window < limits[np.maximum(at, 0)])
    return (np.where(hit, symbols[at], -1).tolist(), np.where(hit, sym_len[at], 0).tolist())


def entropy_bits(counts):
    """Shannon entropy of the distribution ``counts``, in bits per symbol."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())
