"""Storage accounting, as the paper counts it: index bits, codebook and metadata all included.

Two formats describe the same quantised weights:

* the paper's (:mod:`tinyeie.sw.compress.modelfile`): any index widths per layer, one
  relative-index run over the flattened matrix, optionally Huffman coded (P+Q, P+Q+H);
* EIE's, idealised: 4-bit codebook index + 4-bit relative index per entry, per-PE CSC with a
  16-bit pointer per column per PE (:func:`tinyeie.sw.compress.sparse.csc_encode`), a 16-entry
  codebook, rows ``i mod N``. A count, not an image: what the engine actually holds is
  :func:`tinyeie.sw.compiler.sizes.engine_stats`, the bytes of the image ``tinyeie pack``
  writes.

Dense size is float32 weights and biases, as in the paper's Table 1 (LeNet-300-100: 1070 KB).
"""

from dataclasses import dataclass

import numpy as np

from tinyeie.sw.compress.sparse import csc_encode, flat_encode

__all__ = ["FLOAT_BITS", "LENGTH_BITS", "HEADER_BITS", "sharing_ratio", "best_fixed_rel_bits",
           "paper_layer_size", "EIEStorage", "eie_layer_size"]

FLOAT_BITS = 32
LENGTH_BITS = 5   # one Huffman code length in a decode table
HEADER_BITS = 4 * 32  # per layer: entry count, two stream lengths, widths


def sharing_ratio(n, b, k):
    """Compression from weight sharing alone: ``n*b / (n*log2(k) + k*b)`` (paper, eq. 1)."""
    return n * b / (n * np.log2(k) + k * b)


def best_fixed_rel_bits(index, choices=range(2, 9)):
    """``(rel_bits, entries)`` of the relative-index width that stores ``index`` smallest
    without Huffman coding: wider indices cost bits on every entry, narrower ones fillers."""
    best = None
    for rel_bits in choices:
        entries = len(flat_encode(index, rel_bits)[0])
        if best is None or entries * rel_bits < best[1] * best[0]:
            best = (rel_bits, entries)
    return best


def paper_layer_size(layer):
    """Bits of one :class:`~tinyeie.sw.compress.modelfile.CompressedLayer` in the paper's format.

    P+Q is counted with its own best relative-index width; P+Q+H with the width the file
    stores, which was chosen for the smallest Huffman-coded size.
    """
    n = int(np.prod(layer.shape))
    entries = layer.entries
    pq_rel_bits, pq_entries = best_fixed_rel_bits(layer.index)
    s = layer.streams
    shared = (len(layer.codebook) - 1) * FLOAT_BITS  # entry 0 is the implied zero
    bias = len(layer.bias) * FLOAT_BITS
    tables = (len(s["wlens"]) + len(s["rlens"])) * LENGTH_BITS
    pq = pq_entries * (layer.bits + pq_rel_bits) + shared + bias + HEADER_BITS
    pqh = s["wbits"] + s["rbits"] + tables + shared + bias + HEADER_BITS
    dense = (n + len(layer.bias)) * FLOAT_BITS
    per_entry = max(entries, 1)
    return {
        "name": layer.name, "weights": n, "nnz": layer.nnz, "entries": entries,
        "density": layer.nnz / n,
        "weight_bits_pq": layer.bits, "weight_bits_pqh": s["wbits"] / per_entry,
        "index_bits_pq": pq_rel_bits, "index_bits_pqh": s["rbits"] / per_entry,
        "dense_bits": dense, "pq_bits": pq, "pqh_bits": pqh,
        "rate_pq": pq / dense, "rate_pqh": pqh / dense,
    }


@dataclass(frozen=True)
class EIEStorage:
    """Widths of EIE's storage, idealised: what one layer costs in its SRAMs for ``pes`` PEs."""

    pes: int = 4
    entry_bits: int = 8       # 4-bit codebook index + 4-bit relative index
    pointer_bits: int = 16
    codebook_entries: int = 16
    codebook_bits: int = 16
    bias_bits: int = 32


def eie_layer_size(index, storage):
    """Bits of a (out, in) index matrix in EIE's idealised format; None if it does not fit 4
    bits.

    Returns ``(bits, streams)``, ``streams`` the per-PE CSC encoding it was counted from.
    """
    index = np.asarray(index).reshape(len(index), -1)
    if index.size and index.max() >= storage.codebook_entries:
        return None, None
    streams = csc_encode(index, storage.pes, bits=4)
    entries = sum(s.entries for s in streams)
    rows, cols = index.shape
    bits = (entries * storage.entry_bits + storage.pes * (cols + 1) * storage.pointer_bits
            + storage.codebook_entries * storage.codebook_bits + rows * storage.bias_bits)
    return bits, streams
