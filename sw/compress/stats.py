"""Per-layer and whole-model statistics of a compressed model, laid out like the paper's tables."""


from tinyeie.sw.compress.sizes import EIEStorage, eie_layer_size, paper_layer_size

__all__ = ["model_stats", "format_table"]


def model_stats(model, test_data, storage=EIEStorage()):
    """Sizes in the paper's format and EIE's idealised one, and the test error of ``model`` as
    stored. (What the engine holds, and its error, is the compiler's:
    :func:`tinyeie.sw.compiler.sizes.engine_stats`; ``format_table`` shows it when given.)
    """
    xt, yt = test_data
    layers = [paper_layer_size(layer) for layer in model.layers]
    eie_bits = 0
    for layer, row in zip(model.layers, layers):
        bits, _ = eie_layer_size(layer.index, storage)
        row["eie_bits"] = bits
        eie_bits = None if bits is None or eie_bits is None else eie_bits + bits
    dense = sum(r["dense_bits"] for r in layers)
    pq = sum(r["pq_bits"] for r in layers)
    pqh = sum(r["pqh_bits"] for r in layers)
    entries = sum(r["entries"] for r in layers)
    weights = sum(r["weights"] for r in layers)
    nnz = sum(r["nnz"] for r in layers)
    test_error = model.network().error(xt, yt)
    return {
        "arch": model.arch,
        "test_error": test_error,
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
        "eie_pes": storage.pes,
        "eie_bytes": None if eie_bits is None else eie_bits / 8,
        "eie_compression_ratio": None if eie_bits is None else dense / eie_bits,
        "layers": layers,
    }


def format_table(stats):
    """The paper's Tables 2-5 layout, plus EIE's idealised format and, when ``stats`` has them
    (``hw_*``, from :func:`tinyeie.sw.compiler.sizes.engine_stats`), the engine's image, as
    printable text."""
    s = stats
    engine = s.get("hw_layers")
    head = (f"{'layer':<7}{'#weights':>10}{'weights%':>10}{'wbits P+Q':>11}{'wbits +H':>10}"
            f"{'ibits P+Q':>11}{'ibits +H':>10}{'rate P+Q':>10}{'rate +H':>10}{'EIE rate':>10}"
            + (f"{'engine':>10}" if engine else ""))
    lines = [head, "-" * len(head)]
    for k, r in enumerate(s["layers"]):
        eie = f"{r['eie_bits'] / r['dense_bits']:.2%}" if r["eie_bits"] is not None else "n/a"
        hw = f"{8 * sum(engine[k].values()) / r['dense_bits']:>10.2%}" if engine else ""
        lines.append(
            f"{r['name']:<7}{r['weights']:>10,}{r['density']:>10.1%}{r['weight_bits_pq']:>11}"
            f"{r['weight_bits_pqh']:>10.2f}{r['index_bits_pq']:>11}{r['index_bits_pqh']:>10.2f}"
            f"{r['rate_pq']:>10.2%}{r['rate_pqh']:>10.2%}{eie:>10}{hw}")
    eie_ratio = s["eie_compression_ratio"]
    lines.append("-" * len(head))
    lines.append(
        f"{'total':<7}{s['weights']:>10,}{s['density']:>10.1%}{'':>11}"
        f"{s['weight_bits_pqh']:>10.2f}{'':>11}{s['index_bits_pqh']:>10.2f}"
        f"{1 / s['compression_ratio_pq']:>10.2%}{1 / s['compression_ratio']:>10.2%}"
        f"{(f'{1 / eie_ratio:.2%}' if eie_ratio else 'n/a'):>10}"
        + (f"{1 / s['hw_compression_ratio']:>10.2%}" if engine else ""))
    lines.append("")
    lines.append(f"dense float32 {s['dense_bytes'] / 1024:.1f} KiB -> paper format "
                 f"{s['bytes'] / 1024:.1f} KiB with Huffman ({s['compression_ratio']:.1f}x), "
                 f"{s['pq_bytes'] / 1024:.1f} KiB without ({s['compression_ratio_pq']:.1f}x)")
    if eie_ratio:
        lines.append(f"EIE's format, idealised (8-bit entries, a 16-bit pointer per column and "
                     f"PE, {s['eie_pes']} PEs): {s['eie_bytes'] / 1024:.1f} KiB "
                     f"({eie_ratio:.1f}x)")
    if engine:
        parts = ", ".join(f"{part} {count:,}" for part, count in s["hw_sizes"].items())
        lines.append(f"engine image (model.bin, {s['hw_pes']} PEs): {s['hw_bytes']:,} bytes "
                     f"({s['hw_compression_ratio']:.1f}x): {parts}")
    err = f"test error {s['test_error']:.2%} on the {s.get('test_set', 'test set')}"
    if s.get("hw_test_error") is not None:
        err += f" (the engine's integers {s['hw_test_error']:.2%})"
    if s["float_test_error"] is not None:
        err += f"; float model before compression {s['float_test_error']:.2%}"
    lines.append(err)
    return "\n".join(lines)
