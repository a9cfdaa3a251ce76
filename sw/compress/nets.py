"""The networks, in numpy: layers with forward and backward passes, and the model zoo.

Weights are float32. A fully-connected layer holds ``w`` shaped (out, in); a convolution holds
``w`` shaped (out_channels, in_channels, k, k) and runs as a matrix product over im2col
patches. Every layer with weights is a *parameter layer*: the unit that pruning, weight sharing
and the model files work on.
"""

import re

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinyeie.contract.errors import TinyeieError

__all__ = ["Dense", "Conv", "MaxPool", "ReLU", "Flatten", "Network", "build", "parse_arch",
           "parameter_shapes", "check_value_range", "MAX_PARAMETERS", "mlp_sizes",
           "softmax_cross_entropy", "MAX_LAYER_SIZE"]


class Dense:
    """Fully connected: ``y = x @ w.T + b``, ``w`` shaped (out, in)."""

    kind = "fc"

    def __init__(self, n_in, n_out, rng):
        self.w = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32)
        self.b = np.zeros(n_out, dtype=np.float32)

    def forward(self, x):
        self.x = x
        return x @ self.w.T + self.b

    def backward(self, dy, need_dx=True):
        self.dw = dy.T @ self.x
        self.db = dy.sum(axis=0)
        return dy @ self.w if need_dx else None


class Conv:
    """Valid 2-D convolution, stride 1, on (batch, channels, height, width)."""

    kind = "conv"

    def __init__(self, c_in, c_out, k, rng):
        fan_in = c_in * k * k
        self.k = k
        self.w = (rng.standard_normal((c_out, c_in, k, k)) * np.sqrt(2.0 / fan_in)).astype(
            np.float32)
        self.b = np.zeros(c_out, dtype=np.float32)

    def forward(self, x):
        b, c, h, w = x.shape
        k = self.k
        self.x_shape = x.shape
        # (b, c, ho, wo, k, k) -> rows of patches (b*ho*wo, c*k*k)
        patches = sliding_window_view(x, (k, k), axis=(2, 3))
        self.ho, self.wo = patches.shape[2], patches.shape[3]
        self.cols = np.ascontiguousarray(patches.transpose(0, 2, 3, 1, 4, 5)).reshape(
            b * self.ho * self.wo, c * k * k)
        y = self.cols @ self.w.reshape(len(self.w), -1).T + self.b
        return y.reshape(b, self.ho, self.wo, -1).transpose(0, 3, 1, 2)

    def backward(self, dy, need_dx=True):
        b, c, h, w = self.x_shape
        k = self.k
        dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, len(self.w))
        self.dw = (dy_rows.T @ self.cols).reshape(self.w.shape)
        self.db = dy_rows.sum(axis=0)
        if not need_dx:
            return None
        dcols = (dy_rows @ self.w.reshape(len(self.w), -1)).reshape(b, self.ho, self.wo, c, k, k)
        dx = np.zeros(self.x_shape, dtype=dy.dtype)
        for i in range(k):
            for j in range(k):
                dx[:, :, i:i + self.ho, j:j + self.wo] += dcols[:, :, :, :, i, j].transpose(
                    0, 3, 1, 2)
        return dx


class MaxPool:
    """2x2 max pooling, stride 2 (input height and width even)."""

    def forward(self, x):
        b, c, h, w = x.shape
        win = x.reshape(b, c, h // 2, 2, w // 2, 2)
        y = win.max(axis=(3, 5))
        self.mask = win == y[:, :, :, None, :, None]
        return y

    def backward(self, dy):
        # Ties send the gradient to every maximum; with float inputs ties are vanishingly rare.
        dx = self.mask * dy[:, :, :, None, :, None]
        b, c, h2, _, w2, _ = dx.shape
        return dx.reshape(b, c, h2 * 2, w2 * 2).astype(dy.dtype)


class ReLU:
    def forward(self, x):
        self.pos = x > 0
        return x * self.pos

    def backward(self, dy):
        return dy * self.pos


class Flatten:
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(len(dy), *self.shape)


class Network:
    """A chain of layers with a name (``arch``) that rebuilds it: ``build(arch)``."""

    def __init__(self, arch, layers, input_shape):
        self.arch = arch
        self.layers = layers
        self.input_shape = input_shape

    @property
    def inputs(self):
        """Features the network takes (784 for MNIST's pictures)."""
        return int(np.prod(self.input_shape))

    @property
    def outputs(self):
        """Logits it gives: one per class."""
        return len(self.params[-1].w)

    @property
    def params(self):
        """The parameter layers (those with weights), in order."""
        return [layer for layer in self.layers if hasattr(layer, "w")]

    def forward(self, x):
        a = x.reshape(len(x), *self.input_shape)
        for layer in self.layers:
            a = layer.forward(a)
        return a

    def backward(self, dlogits):
        """Gradients into each parameter layer's ``dw``/``db`` (the input's is not needed)."""
        d = dlogits
        for layer in reversed(self.layers[1:]):
            d = layer.backward(d)
        self.layers[0].backward(d, need_dx=False)

    def predict(self, x, batch=1000):
        """Logits for ``x`` (n, inputs), in batches to bound memory."""
        return np.concatenate([self.forward(x[i:i + batch]) for i in range(0, len(x), batch)])

    def error(self, x, y):
        """Fraction of ``x`` misclassified."""
        return float(np.mean(self.predict(x).argmax(axis=1) != y))

    def get_weights(self):
        return [(p.w.copy(), p.b.copy()) for p in self.params]

    def set_weights(self, weights):
        params = self.params
        if len(weights) != len(params):
            raise TinyeieError(f"{self.arch} has {len(params)} weight layers, the file has "
                               f"{len(weights)}")
        for i, (p, (w, b)) in enumerate(zip(params, weights)):
            if w.shape != p.w.shape or b.shape != p.b.shape:
                raise TinyeieError(f"layer {i} of {self.arch}: weights {w.shape} and bias "
                                   f"{b.shape}, expected {p.w.shape} and {p.b.shape}")
            p.w = np.asarray(w, dtype=np.float32).copy()
            p.b = np.asarray(b, dtype=np.float32).copy()


def softmax_cross_entropy(logits, y):
    """Mean cross-entropy loss and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y] + 1e-12).mean()
    p[np.arange(n), y] -= 1
    return float(loss), (p / n).astype(np.float32)


ALIASES = {"lenet300": "mlp:784-300-100-10", "lenet-300-100": "mlp:784-300-100-10"}
PAPER_NAMES = {"mlp:784-300-100-10": "lenet300", "lenet5": "lenet5"}
#: The largest network tinyeie builds or reads: 2**24 weights (64 MiB of float32), 64 times
#: LeNet-5. Files and names are checked against it before any weight is allocated.
MAX_PARAMETERS = 1 << 24
MAX_ARCH_CHARS = 256


# The widest layer any engine holds (EngineConfig.act_depth's limit): a larger MLP could never run.
MAX_LAYER_SIZE = 4095


def parse_arch(name):
    """Normalise a model name: ``lenet300``, ``lenet5`` or ``mlp:SIZES`` such as ``mlp:784-64-10``
    or ``mlp:64-32-3`` (inputs, hidden layers, outputs: any sizes an engine can hold)."""
    if not isinstance(name, str) or len(name) > MAX_ARCH_CHARS:
        shown = name[:40] + "..." if isinstance(name, str) else name
        raise TinyeieError(f"unknown model {shown!r}: expected lenet300, lenet5 or mlp:SIZES "
                           f"such as mlp:784-64-10 (at most {MAX_ARCH_CHARS} characters)")
    arch = ALIASES.get(name.lower(), name.lower())
    if arch == "lenet5":
        return arch
    m = re.fullmatch(r"mlp:(\d{1,9}(?:-\d{1,9})+)", arch, flags=re.ASCII)
    if not m:
        raise TinyeieError(f"unknown model {name!r}: expected lenet300, lenet5 or "
                           f"mlp:SIZES such as mlp:784-64-10 (inputs-hidden-...-outputs)")
    sizes = [int(s) for s in m.group(1).split("-")]
    if min(sizes) < 1 or max(sizes) > MAX_LAYER_SIZE:
        raise TinyeieError(f"model {name!r}: every layer needs 1..{MAX_LAYER_SIZE} units, the "
                           f"most an engine holds")
    if sizes[-1] < 2:
        raise TinyeieError(f"model {name!r} has {sizes[-1]} output: a classifier needs one "
                           f"output per class, at least 2")
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    if weights > MAX_PARAMETERS:
        raise TinyeieError(f"model {name!r} has {weights:,} weights; tinyeie takes networks of "
                           f"at most {MAX_PARAMETERS:,}")
    return "mlp:" + "-".join(map(str, sizes))


def mlp_sizes(arch):
    """Layer sizes of an ``mlp:...`` arch, or None for other networks."""
    return [int(s) for s in arch[4:].split("-")] if arch.startswith("mlp:") else None


def parameter_shapes(arch):
    """``(kind, weight shape)`` of every parameter layer of ``arch``, without building it (the
    bias has ``shape[0]`` values): what a model file must hold, known before reading it."""
    arch = parse_arch(arch)
    if arch == "lenet5":
        return [("conv", (20, 1, 5, 5)), ("conv", (50, 20, 5, 5)), ("fc", (500, 800)),
                ("fc", (10, 500))]
    sizes = mlp_sizes(arch)
    return [("fc", (n_out, n_in)) for n_in, n_out in zip(sizes, sizes[1:])]


#: Largest value a layer's outputs may reach, by the bound :func:`check_value_range` computes:
#: far inside float32 (3.4e38), so that no evaluation of the network can overflow.
MAX_ACTIVATION = 1e30


def check_value_range(arch, magnitudes, where):
    """Refuse weights so large that the network's float32 outputs could overflow.

    ``magnitudes`` holds ``(largest |weight|, largest |bias|)`` per parameter layer. Inputs are
    pixels in [0, 1); a layer's outputs are at most its fan-in times its inputs' bound times
    its largest weight, plus its largest bias (ReLU and pooling only shrink them). Trained
    networks are many orders of magnitude inside :data:`MAX_ACTIVATION`.
    """
    bound = 1.0
    for i, ((_, shape), (w_max, b_max)) in enumerate(zip(parameter_shapes(arch),
                                                          magnitudes)):
        fan_in = int(np.prod(shape[1:]))
        bound = fan_in * bound * float(w_max) + float(b_max)
        if not bound <= MAX_ACTIVATION:
            raise TinyeieError(f"{where}: layer {i}'s weights (up to {float(w_max):.3g}) and "
                               f"biases (up to {float(b_max):.3g}) can drive its outputs to "
                               f"{bound:.3g}, past {MAX_ACTIVATION:.0e}: not a network that "
                               f"float32 can evaluate")


def build(name, seed=0):
    """A freshly initialised network: ``lenet5`` (Caffe variant) or an MLP."""
    arch = parse_arch(name)
    rng = np.random.default_rng(seed)
    if arch == "lenet5":
        # Caffe's LeNet: conv 20@5x5, pool, conv 50@5x5, pool, ip 500, relu, ip 10.
        layers = [Conv(1, 20, 5, rng), MaxPool(), Conv(20, 50, 5, rng), MaxPool(),
                  Flatten((50, 4, 4)), Dense(800, 500, rng), ReLU(), Dense(500, 10, rng)]
        return Network(arch, layers, (1, 28, 28))
    sizes = mlp_sizes(arch)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(Dense(n_in, n_out, rng))
        if i < len(sizes) - 2:
            layers.append(ReLU())
    return Network(arch, layers, (sizes[0],))
