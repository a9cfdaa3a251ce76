"""Seeded minibatch SGD for the numpy networks, with progress bars.

One loop (:func:`run_epochs`) serves dense training, retraining after pruning (masks keep pruned
weights at zero) and centroid fine-tuning after weight sharing (a different update step).
"""

import math

import numpy as np
from tqdm import tqdm

from tinyeie.sw.compress.nets import softmax_cross_entropy

__all__ = ["TrainConfig", "default_train_config", "run_epochs", "train", "shift_augment"]


class TrainConfig:
    """Hyper-parameters of one training run."""

    def __init__(self, epochs=10, lr=0.05, batch=64, momentum=0.9, weight_decay=5e-4,
                 augment=2, seed=0):
        self.epochs = epochs
        self.lr = lr
        self.batch = batch
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.augment = augment  # largest random shift in pixels; 0 turns augmentation off
        self.seed = seed

    def as_dict(self):
        return dict(vars(self))


# Epochs and initial learning rate that train each kind of network well from scratch.
_DEFAULTS = {"lenet5": dict(epochs=20, lr=0.01), "mlp": dict(epochs=30, lr=0.05)}


def default_train_config(arch, **overrides):
    """The :class:`TrainConfig` that trains ``arch`` (as
    :func:`~tinyeie.sw.compress.nets.parse_arch` gives it) from scratch; ``overrides`` that
    are not None replace its fields."""
    settings = dict(_DEFAULTS["lenet5" if arch == "lenet5" else "mlp"])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**settings)


def shift_augment(x, max_shift, rng):
    """Shift every 28x28 image in ``x`` (n, 784) by its own random offset in [-max, max]."""
    if max_shift == 0:
        return x
    n = len(x)
    s = max_shift
    padded = np.pad(x.reshape(n, 28, 28), ((0, 0), (s, s), (s, s)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (28, 28), axis=(1, 2))
    dy, dx = rng.integers(0, 2 * s + 1, size=(2, n))
    return windows[np.arange(n), dy, dx].reshape(n, 784)


def run_epochs(net, x, y, cfg, update, desc):
    """Run ``cfg.epochs`` epochs of minibatches; ``update(lr)`` applies each step's gradients.

    The learning rate follows a cosine from ``cfg.lr`` down to zero over the whole run.
    Returns the mean training loss of the last epoch.
    """
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = math.ceil(len(x) / cfg.batch)
    total = cfg.epochs * steps_per_epoch
    step = 0
    loss_mean = float("nan")
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(x))
        losses = []
        bar = tqdm(range(0, len(x), cfg.batch), desc=f"{desc} {epoch + 1}/{cfg.epochs}",
                   leave=False, unit="batch", mininterval=1.0)
        for start in bar:
            idx = order[start:start + cfg.batch]
            xb = shift_augment(x[idx], cfg.augment, rng)
            loss, dlogits = softmax_cross_entropy(net.forward(xb), y[idx])
            net.backward(dlogits)
            update(cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total)))
            losses.append(loss)
            step += 1
            if step % 50 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        loss_mean = float(np.mean(losses))
    return loss_mean


def train(net, x, y, cfg, masks=None, desc="train"):
    """SGD with momentum and weight decay; ``masks`` (one per parameter layer) pin zeros.

    A masked weight gets neither gradient nor decay nor momentum, so it stays exactly zero.
    """
    params = net.params
    velocity = [(np.zeros_like(p.w), np.zeros_like(p.b)) for p in params]

    def update(lr):
        for i, p in enumerate(params):
            vw, vb = velocity[i]
            gw = p.dw + cfg.weight_decay * p.w
            if masks is not None:
                gw *= masks[i]
            vw *= cfg.momentum
            vw -= lr * gw
            vb *= cfg.momentum
            vb -= lr * p.db
            p.w += vw
            p.b += vb
            if masks is not None:
                p.w *= masks[i]

    return run_epochs(net, x, y, cfg, update, desc)
