"""The board top end to end on Verilator: boot from the SPI flash model (or block RAM), MNIST
images over the UART classified exactly as the golden model does, every bad frame answered
with its error, a corrupted model image refused and a good one served."""

import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinyeie.boards.boards import board
from tinyeie.contract.protocol import SOF, ErrorCode, LoaderError, Request
from tinyeie.sim.board_run import SIM_TIMEOUT, run_board
from tinyeie.sw.compiler.compile import compile_model
from tinyeie.sw.compiler.golden import classify, input_activations, int_forward
from tinyeie.sw.compiler.image import write_image
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_inputs, random_layers
from tinyeie.sw.host.frames import crc16, encode_frame
from tinyeie.sw.mnist import load_mnist

pytestmark = [pytest.mark.verilator, pytest.mark.slow]

MODEL = Path(__file__).resolve().parents[2] / "models" / "lenet300.npz"


def test_icebreaker_boots_lenet_from_flash_and_classifies_mnist():
    """The iCEBreaker as built (no INFER-SPARSE, no inbox: the host sends dense INFERs, one at
    a time)."""
    b = board("icebreaker")
    cfg = b.engine_config()
    compiled = compile_model(MODEL, cfg)
    xt, yt = load_mnist()["test"]
    inputs = input_activations(xt[:8], cfg)
    out = run_board(b, cfg, compiled.packed, inputs, rtl_flash=True)
    want = compiled.int_logits(xt[:8])
    np.testing.assert_array_equal(out["logits"], want)
    np.testing.assert_array_equal(out["classes"], classify(want))
    assert (out["in_count"], out["out_count"]) == (784, 10)
    assert (out["request_bytes"] == 784 + 6).all()
    assert (out["sent_at"][1:] >= out["answered_at"][:-1]).all()


@pytest.mark.parametrize("link_v1", [False, True])
def test_the_sparse_link_classifies_mnist_as_the_dense_one(link_v1):
    """The iCEBreaker's design with the ECP5 boards' link (INFER-SPARSE, a 256-byte inbox):
    the host sends sparse frames where shorter and the next request before the previous
    answer is in, and the logits are the golden model's; a version-1 host (dense INFERs, one
    at a time) gets the same."""
    b = replace(board("icebreaker"), link_sparse=True, rx_buffer=256)
    cfg = b.engine_config()
    compiled = compile_model(MODEL, cfg)
    xt, _ = load_mnist()["test"]
    inputs = input_activations(xt[:6], cfg)
    out = run_board(b, cfg, compiled.packed, inputs, rtl_flash=True, args={"link": not link_v1})
    np.testing.assert_array_equal(out["logits"], compiled.int_logits(xt[:6]))
    if link_v1:
        assert (out["request_bytes"] == 784 + 6).all()
        assert (out["sent_at"][1:] >= out["answered_at"][:-1]).all()
    else:
        # MNIST digits are mostly zeros; from the second answer on the host sends ahead
        assert (out["request_bytes"] < 784).all()
        assert (out["sent_at"][2:] < out["answered_at"][1:-1]).all()


def small_model(cfg, seed=3):
    rng = np.random.default_rng(seed)
    layers = random_layers(rng, [40, 24, 10], density=0.4, cfg=cfg, gap_rows=17)
    inputs = random_inputs(rng, 1, 40, density=0.6, cfg=cfg)
    return layers, inputs, [int(v) for v in int_forward(layers, inputs, cfg)[0]]


def frame_with(request, payload, *, crc_flip=0, length=None):
    body = struct.pack("<BH", request, len(payload) if length is None else length) + payload
    return bytes([SOF]) + body + struct.pack(">H", crc16(body) ^ crc_flip)


def bad_frames(in_count, sparse):
    """(what, raw bytes or [(bytes, stop bit)], quiet cycles after, error, request type);
    ``sparse``: the board takes INFER-SPARSE (else its type is unknown)."""
    good_infer = bytes(in_count)
    cases = [
        ("a bad CRC", frame_with(Request.STATUS, b"", crc_flip=0x0100), 0,
         ErrorCode.BAD_CRC, Request.STATUS),
        ("an INFER with a bad CRC", frame_with(Request.INFER, good_infer, crc_flip=1), 0,
         ErrorCode.BAD_CRC, Request.INFER),
        ("an oversized frame", frame_with(Request.INFER, b"", length=2000), 0,
         ErrorCode.BAD_LENGTH, Request.INFER),
        ("an INFER one activation short", encode_frame(Request.INFER, bytes(in_count - 1)), 0,
         ErrorCode.BAD_LENGTH, Request.INFER),
        ("an unknown type", frame_with(0x77, b""), 0, ErrorCode.UNKNOWN_TYPE, 0x77),
        ("noise", b"\x00\x13\x37", 0, ErrorCode.NOISE, 0),
        ("an INFER cut short", encode_frame(Request.INFER, good_infer)[:14], 2 * SIM_TIMEOUT,
         ErrorCode.TIMEOUT, Request.INFER),
        ("LOAD-DATA without LOAD-START", encode_frame(Request.LOAD_DATA, b"\x00" * 8), 0,
         ErrorCode.SEQUENCE, Request.LOAD_DATA),
    ]
    if sparse:
        cases += [
            ("an INFER-SPARSE placing past the inputs",
             encode_frame(Request.INFER_SPARSE, bytes([3, 1, 9, in_count - 4, 1, 1])), 0,
             ErrorCode.BAD_SPARSE, Request.INFER_SPARSE),
            ("an INFER-SPARSE ending inside a run",
             encode_frame(Request.INFER_SPARSE, bytes([3, 2, 9])), 0,
             ErrorCode.BAD_SPARSE, Request.INFER_SPARSE),
            ("an empty INFER-SPARSE", encode_frame(Request.INFER_SPARSE, b""), 0,
             ErrorCode.BAD_LENGTH, Request.INFER_SPARSE),
            ("an INFER-SPARSE with a bad CRC",
             frame_with(Request.INFER_SPARSE, bytes([5, 1, 9]), crc_flip=0x8000), 0,
             ErrorCode.BAD_CRC, Request.INFER_SPARSE),
            ("an INFER-SPARSE cut short",
             encode_frame(Request.INFER_SPARSE, bytes([1, 3, 3, 4, 5]))[:7], 2 * SIM_TIMEOUT,
             ErrorCode.TIMEOUT, Request.INFER_SPARSE),
        ]
    else:
        cases.append(("an INFER-SPARSE to a board without them",
                      encode_frame(Request.INFER_SPARSE, bytes([1, 1, 2])), 0,
                      ErrorCode.UNKNOWN_TYPE, Request.INFER_SPARSE))
    return [{"what": what, "raw": raw.hex(), "quiet": quiet, "code": int(code), "type": int(t)}
            for what, raw, quiet, code, t in cases]


@pytest.mark.parametrize("name", ["icebreaker", "ulx3s"])
def test_board_answers_every_bad_frame_then_serves(name):
    b = board(name)
    cfg = b.engine_config(pes=4 if name == "ulx3s" else None, pe_words=2048)
    layers, inputs, logits = small_model(cfg)
    packed = pack(layers, cfg)
    run_board(b, cfg, packed, inputs, "board_answers_bad_frames",
              args={"bad_frames": bad_frames(40, b.link_sparse), "good_logits": logits})


def test_board_refuses_a_corrupted_image_and_loads_a_good_one():
    b = board("icebreaker")
    cfg = b.engine_config()
    layers, inputs, logits = small_model(cfg)
    good = write_image(pack(layers, cfg))
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x04
    run_board(b, cfg, pack(layers, cfg), inputs, "board_refuses_a_corrupted_image",
              args={"good_image": good, "bad_image": bytes(bad), "good_logits": logits,
                    "bad_image_error": int(LoaderError.CRC)})


def test_a_flood_beyond_the_inbox_is_refused_and_the_board_recovers():
    """60 INFERs back to back into a 256-byte inbox (each answer is longer than its request,
    so the board falls behind): the overrun is answered with an ERROR, and the board serves
    requests again once the line is quiet."""
    b = replace(board("icebreaker"), link_sparse=True, rx_buffer=256)
    cfg = b.engine_config()
    layers, inputs, logits = small_model(cfg)
    run_board(b, cfg, pack(layers, cfg), inputs, "board_survives_a_flood",
              args={"flood": 60, "good_logits": logits})
