"""What the engine holds: the bytes of the image ``tinyeie pack`` writes, per layer and part,
and the test error of the integer engine (the golden model), for ``tinyeie stats``."""

from tinyeie.contract.config import EngineConfig
from tinyeie.sw.compiler.compile import compile_model
from tinyeie.sw.compiler.image import image_sizes, write_image

__all__ = ["engine_stats"]


def engine_stats(model, test_data, config=EngineConfig(), calibration=None):
    """The ``hw_*`` fields of ``tinyeie stats``: ``model`` (a
    :class:`~tinyeie.sw.compress.modelfile.CompressedModel`) packed for ``config`` as
    :func:`~tinyeie.sw.compiler.compile.compile_model` packs it.

    ``hw_bytes`` is the length of the image (``model.bin``), ``hw_compression_ratio`` the dense
    size over it, ``hw_sizes`` and ``hw_layers`` where its bytes go
    (:func:`~tinyeie.sw.compiler.image.image_sizes`), ``hw_test_error`` the integer engine's
    error on ``test_data`` (images, labels).
    """
    compiled = compile_model(model, config, calibration)
    image = write_image(compiled.packed)
    sizes = image_sizes(compiled.packed)
    assert sizes["bytes"] == len(image)
    dense_bytes = sum(4 * (layer.index.size + layer.bias.size) for layer in model.layers)
    _, int_error = compiled.errors(*test_data)
    return {
        "hw_pes": config.pes,
        "hw_bytes": len(image),
        "hw_compression_ratio": dense_bytes / len(image),
        "hw_test_error": int_error,
        "hw_sizes": sizes["total"],
        "hw_layers": sizes["layers"],
        "hw_config": config.as_dict(),
    }
