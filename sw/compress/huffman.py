"""Canonical Huffman coding of small-alphabet symbol streams.

The decode table is the code length of every symbol (0 for symbols that never occur); codes are
assigned canonically from the lengths, so the lengths alone round-trip the stream exactly.
Bits are packed most significant first.
"""

import heapq

import numpy as np

from tinyeie.contract.errors import TinyeieError

__all__ = ["code_lengths", "canonical_codes", "encode", "decode", "entropy_bits"]


def code_lengths(counts):
    """Huffman code length of each symbol given its ``counts`` (0 for absent symbols).

    A stream with one distinct symbol still spends one bit per symbol, so it can be decoded
    without knowing its length in advance from the lengths table alone.
    """
    counts = np.asarray(counts, dtype=np.int64)
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
    lengths = np.asarray(lengths, dtype=np.int64)
    if np.any(lengths < 0) or np.any(lengths > 48):
        raise TinyeieError(f"Huffman code lengths must be 0..48, got {lengths.tolist()}")
    used = lengths[lengths > 0]
    if len(used) and np.sum(2.0 ** -used) > 1.0 + 1e-12:
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
    """Decode exactly ``count`` symbols from the first ``n_bits`` bits of ``packed``."""
    lengths = _check_lengths(lengths)
    if count == 0:
        return np.zeros(0, dtype=np.uint8)
    max_len = int(lengths.max()) if len(lengths) else 0
    if max_len == 0:
        raise TinyeieError(f"cannot decode {count} symbols: the code has no symbols")
    bits = np.unpackbits(np.asarray(packed, dtype=np.uint8))
    if n_bits > len(bits):
        raise TinyeieError(f"Huffman stream claims {n_bits} bits but holds {len(bits)}")
    bits = np.concatenate([bits[:n_bits], np.zeros(max_len, dtype=np.uint8)]).astype(np.int64)
    # window[i] = the max_len bits starting at bit i, as an integer: one table look-up a symbol.
    window = np.zeros(n_bits + 1, dtype=np.int64)
    for k in range(max_len):
        window = (window << 1) | bits[k:k + n_bits + 1]
    table_sym = np.full(1 << max_len, -1, dtype=np.int64)
    table_len = np.zeros(1 << max_len, dtype=np.int64)
    for s, (c, n) in enumerate(zip(canonical_codes(lengths), lengths)):
        if n:
            lo = int(c) << (max_len - int(n))
            table_sym[lo:lo + (1 << (max_len - int(n)))] = s
            table_len[lo:lo + (1 << (max_len - int(n)))] = n
    sym_at = table_sym[window].tolist()
    len_at = table_len[window].tolist()
    out = [0] * count
    pos = 0
    for i in range(count):
        if pos >= n_bits or sym_at[pos] < 0:
            raise TinyeieError(f"Huffman stream ends or breaks after {i} of {count} symbols")
        out[i] = sym_at[pos]
        pos += len_at[pos]
    if pos != n_bits:
        raise TinyeieError(f"Huffman stream has {n_bits - pos} bits left after {count} symbols")
    return np.array(out, dtype=np.uint8)


def entropy_bits(counts):
    """Shannon entropy of the distribution ``counts``, in bits per symbol."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())
