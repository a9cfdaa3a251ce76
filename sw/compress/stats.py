"""Per-layer and whole-model statistics of a compressed model, laid out like the paper's tables."""

import numpy as np

from tinyeie.sw.compress.sizes import HardwareStorage, hw_layer_size, paper_layer_size
from tinyeie.sw.compress.sparse import csc_decode

__all__ = ["model_stats", "format_table"]


def model_stats(model, test_data, storage=HardwareStorage()):
    """Sizes in both formats and the test error of ``model`` as stored (and as the engine holds it).

    The engine-format error is measured on weights decoded back from the per-PE CSC streams, so
    it checks that format as well as counting it.
    """
    xt, yt = test_data
    layers = [paper_layer_size(layer) for layer in model.layers]
    hw_bits = 0
    hw_weights = []
    for layer, row in zip(model.layers, layers):
        bits, streams = hw_layer_size(layer.index, storage)
        row["hw_bits"] = bits
        if bits is None:
            hw_bits = None
        else:
            if hw_bits is not None:
                hw_bits += bits
            matrix = csc_decode(streams, (layer.shape[0], int(np.prod(layer.shape[1:]))))
            hw_weights.append((layer.codebook[matrix.reshape(layer.shape)], layer.bias))
    dense = sum(r["dense_bits"] for r in layers)
    pq = sum(r["pq_bits"] for r in layers)
    pqh = sum(r["pqh_bits"] for r in layers)
    entries = sum(r["entries"] for r in layers)
    weights = sum(r["weights"] for r in layers)
    nnz = sum(r["nnz"] for r in layers)
    test_error = model.network().error(xt, yt)
    hw_error = None
    if hw_bits is not None:
        net = model.network()
        net.set_weights(hw_weights)
        hw_error = net.error(xt, yt)
    return {
        "arch": model.arch,
        "test_error": test_error,
        "hw_test_error": hw_error,
        "float_test_error": model.history.get("float_test_error"),
        "weights": weights,
        "nnz": nnz,
        "density": nnz / weights,
        "dense_bytes": dense / 8,
        "pq_bytes": pq / 8,
        "bytes": pqh / 8,
        "compression_ratio": dense / pqh,
        "compression_ratio_pq": dense / pq,
        "weight_bits_pqh": sum(m.streams["wbits"] for m in model.layers) / max(entries, 1),
        "index_bits_pqh": sum(m.streams["rbits"] for m in model.layers) / max(entries, 1),
        "hw_pes": storage.pes,
        "hw_bytes": None if hw_bits is None else hw_bits / 8,
        "hw_compression_ratio": None if hw_bits is None else dense / hw_bits,
        "layers": layers,
    }


def format_table(stats):
    """The paper's Tables 2-5 layout, plus the engine format, as printable text."""
    head = (f"{'layer':<7}{'#weights':>10}{'weights%':>10}{'wbits P+Q':>11}{'wbits +H':>10}"
            f"{'ibits P+Q':>11}{'ibits +H':>10}{'rate P+Q':>10}{'rate +H':>10}{'hw rate':>10}")
    lines = [head, "-" * len(head)]
    for r in stats["layers"]:
        hw = f"{r['hw_bits'] / r['dense_bits']:.2%}" if r["hw_bits"] is not None else "n/a"
        lines.append(
            f"{r['name']:<7}{r['weights']:>10,}{r['density']:>10.1%}{r['weight_bits_pq']:>11}"
            f"{r['weight_bits_pqh']:>10.2f}{r['index_bits_pq']:>11}{r['index_bits_pqh']:>10.2f}"
            f"{r['rate_pq']:>10.2%}{r['rate_pqh']:>10.2%}{hw:>10}")
    s = stats
    hw_ratio = s["hw_compression_ratio"]
    lines.append("-" * len(head))
    lines.append(
        f"{'total':<7}{s['weights']:>10,}{s['density']:>10.1%}{'':>11}"
        f"{s['weight_bits_pqh']:>10.2f}{'':>11}{s['index_bits_pqh']:>10.2f}"
        f"{1 / s['compression_ratio_pq']:>10.2%}{1 / s['compression_ratio']:>10.2%}"
        f"{(f'{1 / hw_ratio:.2%}' if hw_ratio else 'n/a'):>10}")
    lines.append("")
    lines.append(f"dense float32 {s['dense_bytes'] / 1024:.1f} KiB -> paper format "
                 f"{s['bytes'] / 1024:.1f} KiB with Huffman ({s['compression_ratio']:.1f}x), "
                 f"{s['pq_bytes'] / 1024:.1f} KiB without ({s['compression_ratio_pq']:.1f}x)")
    if hw_ratio:
        lines.append(f"engine format (4-bit index, 4-bit relative index, {s['hw_pes']} PEs): "
                     f"{s['hw_bytes'] / 1024:.1f} KiB ({hw_ratio:.1f}x)")
    err = f"test error {s['test_error']:.2%} on the {s.get('test_set', 'test set')}"
    if s["hw_test_error"] is not None:
        err += f" (engine format {s['hw_test_error']:.2%})"
    if s["float_test_error"] is not None:
        err += f"; float model before compression {s['float_test_error']:.2%}"
    lines.append(err)
    return "\n".join(lines)
