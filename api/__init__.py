"""tinyeie: Deep Compression and an EIE-style sparse accelerator for small FPGAs.

The steps, as functions (docs/api.md has a worked example)::

    import tinyeie

    data = tinyeie.load_data("my_data.npz")          # x_train, y_train, x_test, y_test
    net, notes = tinyeie.import_network("mlp.onnx", data=data)
    model = tinyeie.compress(net, data)
    compiled = tinyeie.pack(model, data, output="build/model")
    print(tinyeie.simulate(compiled.packed, data, images=50)["mismatches"])
    tinyeie.build("icebreaker", "build/model")
    board = tinyeie.connect()                        # the attached board, found by USB ID

Nothing is imported until a name is used (PEP 562): ``import tinyeie.sw.host.board`` runs this
file first, and a serial host must not pay for the HDL.
"""

import importlib

__all__ = ["__version__", "load_data", "import_network", "train", "compress", "stats", "pack",
           "simulate", "build", "connect", "infer", "load_model", "save_model", "load_image",
           "Board", "EngineConfig", "TinyeieError", "ToolMissing"]

# Where each name lives; looked up on first use.
_NAMES = {
    **{name: "tinyeie.flow" for name in ("load_data", "import_network", "train", "compress",
                                         "stats", "pack", "simulate", "build", "connect",
                                         "infer", "load_model", "save_model", "load_image")},
    "Board": "tinyeie.sw.host.board",
    "EngineConfig": "tinyeie.contract.config",
    "TinyeieError": "tinyeie.contract.errors",
    "ToolMissing": "tinyeie.contract.errors",
}


def __getattr__(name):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("tinyeie")
        except PackageNotFoundError:
            return "0+unknown"
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tinyeie' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
