"""The quantised fully-connected layer: the hand-over point from compression to the engine."""

from dataclasses import dataclass

import numpy as np

from tinyeie.contract.errors import TinyeieError

__all__ = ["SharedWeights", "QuantisedLayer", "mlp_forward"]


class SharedWeights:
    """What every layer with shared weights has: an ``index`` into a ``codebook``."""

    @property
    def shape(self):
        return self.index.shape

    @property
    def weights(self):
        """The weight matrix this layer stands for: ``codebook[index]``."""
        return self.codebook[self.index]


@dataclass(frozen=True)
class QuantisedLayer(SharedWeights):
    """A fully-connected layer after pruning and weight sharing: ``W = codebook[index]``.

    Attributes
    ----------
    codebook : float32 array, shape (k,)
        Shared weight values. ``codebook[0]`` is exactly 0.0: index 0 marks a pruned weight (and,
        in the sparse formats, a filler entry).
    index : uint8 array, shape (out, in)
        Codebook index of every weight.
    bias : float32 array, shape (out,)
    relu : bool
        Whether a ReLU follows the layer (every layer but the last in an MLP).
    """

    codebook: np.ndarray
    index: np.ndarray
    bias: np.ndarray
    relu: bool

    def __post_init__(self):
        if self.codebook.ndim != 1 or len(self.codebook) == 0 or self.codebook[0] != 0.0:
            raise TinyeieError(f"codebook must be a vector starting with 0.0, "
                               f"got {self.codebook[:4]!r}")
        if self.index.ndim != 2:
            raise TinyeieError(f"index matrix must be 2-D (out, in), got shape {self.index.shape}")
        if self.index.size and int(self.index.max()) >= len(self.codebook):
            raise TinyeieError(f"index {int(self.index.max())} is outside the codebook of "
                               f"{len(self.codebook)} entries")
        if self.bias.shape != (self.index.shape[0],):
            raise TinyeieError(f"bias has shape {self.bias.shape}, the layer needs "
                               f"({self.index.shape[0]},)")

def mlp_forward(layers, x):
    """Float forward pass of a chain of :class:`QuantisedLayer` on a batch ``x`` (batch, in)."""
    a = np.asarray(x, dtype=np.float32)
    for layer in layers:
        a = a @ layer.weights.T + layer.bias
        if layer.relu:
            a = np.maximum(a, 0)
    return a
