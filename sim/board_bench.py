"""MNIST images through a board's whole design on Verilator: what `tinyeie sim --board` prints.

The same measurements as :func:`tinyeie.sim.engine_bench.simulate_mnist`, but through the board
top: the model boots from the SPI flash model (iCE40 boards) or sits in block RAM (ECP5), and
every image goes over the UART as an INFER frame.
"""

import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinyeie.sim.board_run import run_board
from tinyeie.sw.compiler.golden import classify, dense_cycles, input_activations
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.mnist import load_mnist

__all__ = ["simulate_board_mnist"]


def _follow(path, bar, stop):
    """Move ``bar`` to the count the cocotb side writes into ``path``, until ``stop``."""
    while not stop.wait(0.5):
        try:
            done = int(path.read_text() or 0)
        except (OSError, ValueError):
            continue
        bar.update(done - bar.n)


def simulate_board_mnist(board, model, images, *, pes=None, progress=True):
    """Run the first ``images`` MNIST test images through ``board``'s design; a dict."""
    from tinyeie.boards.build import board_config
    from tinyeie.contract.errors import TinyeieError
    from tinyeie.sw.compiler.compile import compile_model

    cfg = board_config(board, model, pes)
    compiled = compile_model(model, cfg)
    xt, yt = load_mnist()["test"]
    if not 1 <= images <= len(xt):
        raise TinyeieError(f"--images must be 1..{len(xt)}, not {images}")
    inputs = input_activations(xt[:images], cfg)
    with tempfile.TemporaryDirectory(prefix="tinyeie-progress-") as tmp:
        counter = Path(tmp) / "done"
        bar = tqdm(total=images, unit="image", desc=f"{board.name} (boot, then UART)",
                   disable=not progress)
        stop = threading.Event()
        follower = threading.Thread(target=_follow, args=(counter, bar, stop), daemon=True)
        follower.start()
        started = time.monotonic()
        try:
            out = run_board(board, cfg, compiled.packed, inputs, args={"progress": str(counter)},
                            rtl_flash=True)
        finally:
            stop.set()
            follower.join()
            bar.update(images - bar.n)
            bar.close()
    golden = compiled.int_logits(xt[:images])
    interpreter = Interpreter(compiled.packed)
    ideal = np.array([interpreter.run(a).ideal_cycles for a in inputs])
    dense = dense_cycles([layer.shape for layer in compiled.int_layers], cfg.pes)
    cycles = out["cycles"]
    return {
        "board": board.name,
        "images": images,
        "pes": cfg.pes,
        "mismatches": int((out["logits"] != golden).any(axis=1).sum()),
        "class_mismatches": int((out["classes"] != classify(golden)).sum()),
        "errors": int((out["classes"] != yt[:images]).sum()),
        "cycles_mean": float(cycles.mean()),
        "ideal_cycles_mean": float(ideal.mean()),
        "dense_cycles_mean": float(dense),
        "cycles_over_ideal": float(cycles.mean() / ideal.mean()),
        "dense_over_cycles": float(dense / cycles.mean()),
        "boot": "SPI flash" if board.flash_boot else "block RAM from the bitstream",
        "simulation_seconds": round(time.monotonic() - started, 1),
        "config": cfg.as_dict(),
    }
