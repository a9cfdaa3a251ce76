"""tinyeie's steps as Python functions: what ``import tinyeie`` gives, and what the ``tinyeie``
command runs. docs/api.md has a worked example.

Each step takes what the step before gave, as an object or as the file it was saved to:

    data = tinyeie.load_data("my_data.npz")              # or None: MNIST
    net, notes = tinyeie.import_network("mlp.onnx", data=data)
    model = tinyeie.compress(net, data)                  # prune, share weights, Huffman
    tinyeie.save_model(model, "model.npz")
    compiled = tinyeie.pack(model, data, output="build/model")   # the model image
    tinyeie.simulate(compiled.packed, data, images=50)   # on the RTL (Verilator)
    tinyeie.build("icebreaker", "build/model")           # bitstream and flash image

Every problem the user can fix is a :class:`~tinyeie.contract.errors.TinyeieError` with a
message that says what was wrong and what would be right.
"""

import time
from pathlib import Path

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.data import load_dataset

__all__ = ["load_data", "import_network", "train", "compress", "stats", "pack", "simulate",
           "build", "connect", "infer", "load_model", "save_model", "load_image"]


def load_data(path=None):
    """The :class:`~tinyeie.sw.data.Dataset` in ``path`` (an .npz of x_train, y_train, x_test,
    y_test), checked; MNIST when None."""
    return load_dataset(path)


def _data(data):
    if data is None or isinstance(data, (str, Path)):
        return load_dataset(data)
    return data


def import_network(path, layout=None, data=None):
    """Read a trained MLP (``.onnx``, or ``.npz`` arrays ``w0, b0, ...``): ``(network, notes)``.

    ``layout`` (``"out-in"`` or ``"in-out"``) says how ``.npz`` weights are laid out when their
    shapes leave it open; ``data`` (default MNIST) is checked against the network.
    """
    from tinyeie.sw.compress.importer import import_network as read

    data = _data(data)
    net, _, notes = read(path, layout)
    data.check_model(net.inputs, net.outputs, str(path))
    return net, notes


def train(arch, data=None, *, epochs=None, lr=None, batch=64, augment=None, seed=0):
    """Train a network from scratch on ``data`` (default MNIST): ``(network, meta)``, ``meta``
    holding ``test_error``, the data set's name and the training settings.

    ``arch``: ``lenet300``, ``lenet5`` or ``mlp:SIZES`` such as ``mlp:32-16-5``. ``augment``:
    the largest random shift in pixels, default 2 for MNIST's pictures and 0 (never) for other
    data.
    """
    from tinyeie.sw.compress.nets import build as build_network
    from tinyeie.sw.compress.nets import parse_arch
    from tinyeie.sw.compress.train import default_train_config
    from tinyeie.sw.compress.train import train as run_training

    data = _data(data)
    arch = parse_arch(arch)
    net = build_network(arch, seed=seed)
    data.check_model(net.inputs, net.outputs, arch)
    cfg = default_train_config(arch, epochs=epochs, lr=lr, batch=batch,
                               augment=_augment(data, augment), seed=seed)
    run_training(net, *data.train, cfg, desc=f"train {arch}")
    return net, {"train": cfg.as_dict(), "test_error": net.error(*data.test), "data": data.name}


def _augment(data, augment):
    """Shifting applies to MNIST's 28x28 pictures only."""
    if augment is None:
        return 2 if data.image_shape == (28, 28) else 0
    if augment and data.image_shape != (28, 28):
        raise TinyeieError(f"--augment shifts 28x28 pictures; {data.name} holds features, which "
                           f"are not shifted: leave it out or give 0")
    return augment


def compress(network, data=None, *, quality=None, bits=None, prune_iterations=3,
             retrain_epochs=None, finetune_epochs=None, init="linear", seed=0, sweep=True,
             log=print):
    """Prune + retrain, share weights + fine-tune, Huffman-code ``network`` (a float
    :class:`~tinyeie.sw.compress.nets.Network`, or a file :func:`import_network` reads) on
    ``data`` (default MNIST): a :class:`~tinyeie.sw.compress.modelfile.CompressedModel`.

    ``quality`` and ``bits`` take one value or one per layer (defaults: the presets of
    :mod:`tinyeie.sw.compress.pipeline`); ``log`` gets one line per stage.
    """
    from tinyeie.sw.compress.pipeline import check_config, default_config
    from tinyeie.sw.compress.pipeline import compress as run_pipeline

    data = _data(data)
    if isinstance(network, (str, Path)):
        network, notes = import_network(network, data=data)
        for note in notes:
            log(f"note: {note}")
    data.check_model(network.inputs, network.outputs)
    cfg = default_config(network.arch, len(network.params))
    if quality:
        cfg.quality = list(quality)
    if bits:
        cfg.bits = list(bits)
    cfg.prune_iterations = prune_iterations
    cfg.init = init
    cfg.seed = cfg.retrain.seed = cfg.finetune.seed = seed
    cfg.sweep = sweep
    cfg.retrain.augment = cfg.finetune.augment = _augment(data, None)
    if retrain_epochs is not None:
        cfg.retrain.epochs = retrain_epochs
    if finetune_epochs is not None:
        cfg.finetune.epochs = finetune_epochs
    check_config(cfg, len(network.params))
    return run_pipeline(network, data.train, data.test, cfg, log=log)


def load_model(path):
    """Read a compressed model file (``tinyeie compress``'s output)."""
    from tinyeie.sw.compress.modelfile import load_model as read
    return read(path)


def save_model(model, path):
    """Write a compressed model file."""
    from tinyeie.sw.compress.modelfile import save_model as write
    write(path, model)


def _model(model):
    return load_model(model) if isinstance(model, (str, Path)) else model


def stats(model, data=None, pes=4):
    """Sizes in the paper's and the engine's formats, and the test errors, of a compressed model
    (or its file) on ``data`` (default MNIST): the dict ``tinyeie stats --json`` prints."""
    from tinyeie.sw.compiler.compile import CALIBRATION_IMAGES
    from tinyeie.sw.compiler.sizes import engine_stats
    from tinyeie.sw.compress.sizes import EIEStorage
    from tinyeie.sw.compress.stats import model_stats

    if pes < 1:
        raise TinyeieError(f"--pes must be at least 1, got {pes}")
    data, model = _data(data), _model(model)
    net = model.network()
    data.check_model(net.inputs, net.outputs)
    result = model_stats(model, data.test, EIEStorage(pes=pes))
    if model.is_mlp:      # the engine runs fully-connected networks only
        result.update(engine_stats(model, data.test, EngineConfig(pes=pes),
                                   data.calibration(CALIBRATION_IMAGES)))
    result["data"] = data.name
    result["test_set"] = data.describe(len(data.test[1]))
    return result


def pack(model, data=None, config=None, output=None, balance=True):
    """Quantise a compressed model (or its file) to the engine's integers, calibrated on
    ``data``'s training inputs (default MNIST), and lay it out for the engine ``config``
    (default :class:`~tinyeie.contract.config.EngineConfig`): a
    :class:`~tinyeie.sw.compiler.compile.Compiled` whose ``packed`` is the model image.
    ``output``: a folder to write model.bin, manifest.json and mem/*.hex into. ``balance``:
    order each hidden layer's rows over the PEs (:func:`~tinyeie.sw.compiler.pack.pack`)."""
    from tinyeie.sw.compiler.compile import CALIBRATION_IMAGES, compile_model
    from tinyeie.sw.compiler.image import save_packed

    data, model = _data(data), _model(model)
    net = model.network()
    data.check_model(net.inputs, net.outputs)
    compiled = compile_model(model, config or EngineConfig(),
                             data.calibration(CALIBRATION_IMAGES), balance=balance)
    if output is not None:
        save_packed(compiled.packed, output)
    return compiled


def _packed(model, config, data):
    """A PackedModel as it is, or read (model image) or packed (compressed model) from a file."""
    from tinyeie.sw.compiler.compile import packed_model
    if isinstance(model, (str, Path)):
        return packed_model(model, config, data)
    return getattr(model, "packed", model)


def simulate(model, data=None, images=100, *, board=None, config=None, netlist=None,
             waves=None, baud=115200, link_v1=False, progress=False):
    """Run the first ``images`` test inputs of ``data`` (default MNIST) through the engine's RTL
    on Verilator, checked bit for bit against the golden model: the dict ``tinyeie sim --json``
    prints (``mismatches``, ``first_mismatch``, ``errors``, cycles).

    ``model``: a packed model, a model image (``model.bin`` or its folder) or a compressed model
    file to pack. ``board``: simulate that board's whole design instead (flash boot, UART);
    ``config``: the engine (for a board, only its ``pes`` counts); ``netlist``: with ``board``,
    a gate-level netlist of it to simulate instead of the RTL (``"synth"``: synthesise one into
    build/BOARD-gate). ``waves``: a ``.fst`` or ``.vcd`` file to record (RTL only). ``baud``:
    a board's UART, simulated at its real bit time (the dict then has ``images_per_second``);
    ``link_v1``: the host sends dense INFERs one at a time (else sparse ones where shorter, and
    ahead where the board allows).
    Needs a C++ compiler and make (:class:`~tinyeie.contract.errors.ToolMissing` if there are none).
    """
    from tinyeie.sim.harness import require_build_tools

    require_build_tools()
    data = _data(data)
    if waves is not None:
        from tinyeie.sim.waves import wave_format
        wave_format(waves)
        if netlist is not None:
            raise TinyeieError("--waves records the RTL; leave out --netlist")
    if netlist is not None and board is None:
        raise TinyeieError("--netlist simulates a board's netlist: give --board NAME too")
    if board is not None:
        from tinyeie.boards.boards import board as find_board
        from tinyeie.boards.build import board_packed
        from tinyeie.sim.board_bench import simulate_board

        b = find_board(board) if isinstance(board, str) else board
        b.uart_divisor(baud)        # a rate the board cannot run fails before the work
        pes = config.pes if config is not None else None
        model = model.packed if hasattr(model, "packed") else model
        packed = board_packed(b, model, pes, data=data)
        if netlist == "synth":
            from tinyeie.boards.build import synthesize_board
            netlist = synthesize_board(b, packed, Path("build") / f"{b.name}-gate")
        elif netlist is not None and not Path(netlist).is_file():
            raise TinyeieError(f"netlist {netlist} does not exist: `tinyeie build --board "
                               f"{b.name}` writes one (tinyeie.netlist.v), or pass --netlist "
                               f"synth")
        return simulate_board(b, packed, images, data=data, progress=progress, netlist=netlist,
                              waves=waves, baud=baud, link_v1=link_v1)
    from tinyeie.sim.engine_bench import simulate_engine

    packed = _packed(model, config, data)
    return simulate_engine(packed, images, data=data, progress=progress, waves=waves)


def build(board, model, *, data=None, pes=None, build_dir=None, baud=115200, progress=True):
    """A board's bitstream (and flash image) with the model (a model image, or a compressed
    model file that is packed first, calibrated on ``data``) and its UART at ``baud``: the dict
    ``tinyeie build --json`` prints (``luts``, ``fmax_mhz``, ``timing_met``, ``bitstream``,
    ...). A baud rate the board cannot run is refused before anything is built."""
    from tinyeie.boards.boards import board as find_board
    from tinyeie.boards.build import build_board

    b = find_board(board) if isinstance(board, str) else board
    if not Path(model).exists():
        raise TinyeieError(f"model {model} does not exist (a model image from `tinyeie pack`, "
                           f"or a compressed model .npz)")
    b.uart_divisor(baud)
    return build_board(b, model, pes=pes, build_dir=build_dir, baud=baud, progress=progress,
                       data=None if data is None else _data(data))


def connect(port=None, *, board=None, baud=115200, timeout=2.0):
    """A :class:`~tinyeie.sw.host.board.Board` on the serial port ``port``, or else on the one
    port whose USB vendor and product ID is a tinyeie board's (``board``: that board's only)."""
    from tinyeie.sw.host.board import Board
    from tinyeie.sw.host.ports import find_port

    port = port or find_port(board)
    try:
        return Board.open(port, baudrate=baud, timeout=timeout)
    except TinyeieError as error:
        if "ermission denied" not in str(error):
            raise
        raise TinyeieError(f"{error}: add yourself to the group that owns the port (Debian: "
                           f"sudo usermod -aG dialout $USER, then log in again)") from None


def load_image(path):
    """The packed model in a model image (``model.bin`` or a `tinyeie pack` folder)."""
    from tinyeie.sw.compiler.image import load_image as read
    return read(path)


def infer(host, packed, x, labels=None, *, progress=False, name="the model image"):
    """Classify the inputs ``x`` (n, features) in [0, 1) on a board (``host``, a
    :class:`~tinyeie.sw.host.board.Board`) that holds the model image ``packed`` (called
    ``name`` in messages), and check each answer against the golden model of that image: a dict
    with the board's and the golden model's ``classes``, ``mismatches`` (inputs whose logits
    differ in any bit), ``cycles`` and, with ``labels``, the ``errors`` of both.

    Refused before the first input: a board without a valid model, or whose model (PEs,
    inputs, outputs as STATUS reports them) is not ``packed``, and inputs of another size."""
    import numpy as np
    from tqdm import tqdm

    from tinyeie.sw.compiler.compile import golden_logits, layer_shapes
    from tinyeie.sw.compiler.golden import classify, input_activations

    shapes = layer_shapes(packed)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != shapes[0][1]:
        raise TinyeieError(f"{name} takes {shapes[0][1]} inputs, the inputs have "
                           f"{x.shape[-1]} features")
    status = host.status()
    if not status.model_valid:
        raise TinyeieError(f"the board has no valid model (last loader error: "
                           f"{status.last_loader_error_name}): load one with `tinyeie infer "
                           f"--load build/BOARD/model`")
    holds = (status.pes, status.in_count, status.out_count)
    image = (packed.config.pes, shapes[0][1], shapes[-1][0])
    if holds != image:
        raise TinyeieError(f"the board's model ({holds[0]} PEs, {holds[1]} inputs, {holds[2]} "
                           f"outputs) is not {name} ({image[0]} PEs, {image[1]} inputs, "
                           f"{image[2]} outputs): name the image it holds with --model-image, "
                           f"or load this one with --load")
    inputs = input_activations(x, packed.config)
    golden = golden_logits(packed, inputs)
    started = time.monotonic()
    with tqdm(total=len(inputs), unit="input", desc="board", disable=not progress,
              leave=False) as bar:
        answers = host.infer_many(inputs, progress=lambda done: bar.update(done - bar.n))
    seconds = time.monotonic() - started
    logits = np.array([list(a.logits) for a in answers], dtype=np.int64)
    differ = np.flatnonzero((logits != golden).any(axis=1))
    result = {
        "port": getattr(host.port, "port", None),
        "inputs": len(inputs),
        "mismatches": len(differ),
        "first_mismatch": int(differ[0]) if len(differ) else None,
        "classes": [int(a.cls) for a in answers],
        "golden_classes": classify(golden).tolist(),
        "cycles": [int(a.cycles) for a in answers],
        "cycles_mean": float(np.mean([a.cycles for a in answers])),
        "logits": logits.tolist(),
        "golden_logits": golden.tolist(),
        # the host's clock, from the first request to the last answer: the link end to end
        "seconds": round(seconds, 4),
        "images_per_second": len(inputs) / seconds if seconds > 0 else None,
    }
    if labels is not None:
        labels = np.asarray(labels)
        result["labels"] = labels.tolist()
        result["errors"] = int((np.array(result["classes"]) != labels).sum())
        result["golden_errors"] = int((classify(golden) != labels).sum())
    return result
