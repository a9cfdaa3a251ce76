"""From a compressed model file to what the engine runs: integer layers and packed memories.

The one place that chooses the calibration images, so that every model is quantised the same
way. Calibration happens once, in ``tinyeie pack``; the stages after it (``sim``, ``build``,
``verilog --init``, ``infer``) start from the model image it writes (:func:`packed_model`).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyeie.contract.config import EngineConfig
from tinyeie.sw.compiler.golden import (
    classify,
    input_activations,
    input_activity,
    int_forward,
    quantise_layers,
)
from tinyeie.sw.compiler.image import load_image
from tinyeie.sw.compiler.pack import layer_descriptor, pack, unpack
from tinyeie.sw.compiler.validate import check_packed
from tinyeie.sw.compress.modelfile import load_model
from tinyeie.sw.compress.quantised import mlp_forward

__all__ = ["CALIBRATION_IMAGES", "Compiled", "compile_model", "calibration_images",
           "is_model_image", "packed_model", "golden_logits", "layer_shapes"]

CALIBRATION_IMAGES = 10_000   # the first training images pick the activation scales


@dataclass
class Compiled:
    """A model ready for the engine: its float layers, integer layers and packed memories."""

    float_layers: list
    int_layers: list
    packed: object
    config: EngineConfig

    def int_logits(self, pixels):
        """The integer reference's logits for inputs (n, features) in [0, 1)."""
        return int_forward(self.int_layers, input_activations(pixels, self.config), self.config)

    def errors(self, pixels, labels):
        """``(float error, fixed-point error)`` fractions on labelled images."""
        float_pred = mlp_forward(self.float_layers, pixels).argmax(axis=1)
        int_pred = classify(self.int_logits(pixels))
        return float(np.mean(float_pred != labels)), float(np.mean(int_pred != labels))


def calibration_images():
    from tinyeie.sw.mnist import load_mnist
    return load_mnist()["train"][0][:CALIBRATION_IMAGES]


def compile_model(model, config=EngineConfig(), calibration=None, balance=True):
    """Quantise and pack a :class:`~tinyeie.sw.compress.modelfile.CompressedModel` (or its path).

    ``calibration``: inputs (n, features) that choose the activation scales and tell the
    compiler how often each layer input is non-zero (where padding costs least); the first
    10,000 MNIST training images when not given. ``balance``: see
    :func:`~tinyeie.sw.compiler.pack.pack`.
    """
    if not hasattr(model, "layers"):
        model = load_model(model)
    float_layers = model.quantised_layers()
    if calibration is None:
        calibration = calibration_images()
    int_layers = quantise_layers(float_layers, calibration, config)
    activity = input_activity(int_layers, input_activations(calibration, config), config)
    return Compiled(float_layers=float_layers, int_layers=int_layers,
                    packed=pack(int_layers, config, balance=balance, activity=activity),
                    config=config)


def is_model_image(path):
    """``path`` names a model image: a ``.bin`` file or a `tinyeie pack` folder."""
    path = Path(path)
    return path.is_dir() or path.suffix == ".bin"


def packed_model(path, config=None, data=None):
    """The packed model of a model image (``model.bin`` or a `tinyeie pack` folder) or, packed
    now, of a compressed model file (``.npz``).

    ``config``: the engine it must run on (a model image is checked against it, a compressed
    model packed for it); None takes a model image as its header describes it, and packs a
    compressed model for the default engine. ``data``: the
    :class:`~tinyeie.sw.data.Dataset` whose training inputs calibrate a compressed model
    (default MNIST's).
    """
    if is_model_image(path):
        return load_image(path, config)
    model = load_model(path)
    calibration = None
    if data is not None:
        net = model.network()
        data.check_model(net.inputs, net.outputs, str(path))
        calibration = data.calibration(CALIBRATION_IMAGES)
    return compile_model(model, config or EngineConfig(), calibration).packed


def golden_logits(packed, inputs):
    """The integer reference's logits for input activations (n, in_count) on a packed model
    (refused, TinyeieError, unless it is valid: :func:`check_packed`)."""
    check_packed(packed)
    return int_forward(unpack(packed), inputs, packed.config)


def layer_shapes(packed):
    """``(outputs, inputs)`` of every layer of a packed model."""
    descriptors = [layer_descriptor(packed, i) for i in range(packed.n_layers)]
    return [(d["out_count"], d["in_count"]) for d in descriptors]
