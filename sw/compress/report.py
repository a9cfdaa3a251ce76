"""``tinyeie report``: the plots a reader of Deep Compression looks for, as PNG files.

* ``fig4_<layer>.png``: distribution of the surviving weights with the codebook before (initial
  k-means) and after centroid fine-tuning;
* ``fig5_<layer>.png``: distributions of the stored codebook indices and relative indices,
  the biased distributions Huffman coding exploits;
* ``fig6_accuracy_vs_compression.png``: test error against compression rate for pruning only,
  quantisation only, and both (from the sweep recorded by ``tinyeie compress``).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinyeie.contract.errors import TinyeieError  # noqa: E402
from tinyeie.sw.compress.sparse import flat_encode  # noqa: E402
from tinyeie.sw.outputs import atomic_write  # noqa: E402

__all__ = ["write_report"]


def _fig4(layer, dist, path):
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), width_ratios=(1, 1.6))
    edges = np.asarray(dist["hist_edges"])
    counts = np.asarray(dist["hist_counts"])
    # Left: the weights' CDF and where each k-means initialisation puts its centroids.
    cdf = np.concatenate([[0], np.cumsum(counts)]) / max(counts.sum(), 1)
    left.plot(edges, cdf, color="tab:blue", lw=1.2, label="CDF of weights")
    markers = {"linear": ("tab:red", "o"), "forgy": ("tab:green", "x"), "density": ("k", "+")}
    for method, centres in dist.get("inits", {}).items():
        colour, marker = markers.get(method, ("grey", "."))
        left.plot(centres, np.interp(centres, edges, cdf), marker, color=colour, ls="none",
                  label=f"{method} init")
    left.set_xlabel("weight value")
    left.set_ylabel("cumulative distribution")
    left.set_title(f"{layer.name}: centroid initialisation")
    left.legend(fontsize=8)
    # Right: the weights and the codebook after k-means and after fine-tuning.
    right.stairs(counts, edges, fill=True, alpha=0.4, label="surviving weights")
    top = counts.max() if len(counts) else 1
    right.plot(dist["codebook_initial"], [top * 1.06] * len(dist["codebook_initial"]), "x",
               color="tab:green", label="codebook after k-means")
    right.plot(dist["codebook_finetuned"], [top * 1.02] * len(dist["codebook_finetuned"]), "o",
               color="tab:red", ms=4, label="codebook after fine-tuning")
    right.set_xlabel("weight value")
    right.set_ylabel("count")
    right.set_title(f"{layer.name}: weights and codebook (cf. Fig. 4)")
    right.legend(fontsize=8)
    _save(fig, path)


def _fig5(layer, path):
    v, z = flat_encode(layer.index, layer.rel_bits)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.bar(np.arange(1 << layer.bits), np.bincount(v, minlength=1 << layer.bits))
    a1.set_xlabel("codebook index (0 = filler)")
    a1.set_ylabel("count")
    a1.set_title(f"{layer.name}: weight index distribution")
    a2.bar(np.arange(1 << layer.rel_bits), np.bincount(z, minlength=1 << layer.rel_bits),
           color="tab:orange")
    a2.set_xlabel("relative index (zeros skipped)")
    a2.set_title(f"{layer.name}: sparse matrix location index (cf. Fig. 5)")
    _save(fig, path)


def _fig6(sweep, float_error, path):
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = {"prune_only": "pruning only", "quant_only": "quantisation only",
              "prune_quant": "pruning + quantisation (4 bit)"}
    for key, label in labels.items():
        pts = sorted(sweep.get(key, []))
        if pts:
            rate, err = np.array(pts).T
            ax.plot(100 / rate, 100 * (err - float_error), "o-", label=label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylim(-1, 10)  # the paper's range of interest; broken networks run off the top
    ax.set_xscale("log")
    ax.set_xlabel("model size, % of dense float32 (no Huffman)")
    ax.set_ylabel("test error change, percentage points")
    ax.set_title("Accuracy against compression, no retraining per point (cf. Fig. 6)")
    ax.legend()
    _save(fig, path)


def _save(fig, path):
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, dpi=110, format="png")
    plt.close(fig)


def write_report(model, out_dir):
    """Write the PNG plots of ``model`` into ``out_dir``; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    dists = model.history.get("layers", [])
    for layer, dist in zip(model.layers, dists):
        _fig4(layer, dist, out / f"fig4_{layer.name}.png")
        written.append(out / f"fig4_{layer.name}.png")
    for layer in model.layers:
        _fig5(layer, out / f"fig5_{layer.name}.png")
        written.append(out / f"fig5_{layer.name}.png")
    sweep = model.history.get("sweep")
    if sweep:
        path = out / "fig6_accuracy_vs_compression.png"
        _fig6(sweep, model.history.get("float_test_error", 0.0), path)
        written.append(path)
    if not written:
        raise TinyeieError("the model records nothing to plot")
    return written
