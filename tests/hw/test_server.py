# amaranth: UnusedElaboratable=no
"""ModelServer on Amaranth's simulator: the real protocol, loader and engine, model images
over the protocol's byte streams (no UART bit timing), answers decoded as the host does.

The regressions of issue 11: a model image whose header counts disagree with its layer
descriptors, or whose runs of entries never end (CRC-32 recomputed, so the loader accepts it),
must not hang the board. Each INFER is answered (ENGINE-FAULT), the engine returns to idle,
and STATUS and a new load work after.
"""

import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest

from tinyeie.contract.config import EngineConfig
from tinyeie.contract.image import HEADER_WORDS, header_words, read_header
from tinyeie.contract.layouts import Target
from tinyeie.contract.protocol import ErrorCode, Feature, LoaderError, Request, Response
from tinyeie.hw.server import ModelServer
from tinyeie.hw.uart import RxError
from tinyeie.sim.pysim import simulate, stream_get
from tinyeie.sw.compiler.golden import int_forward
from tinyeie.sw.compiler.image import write_image
from tinyeie.sw.compiler.pack import pack
from tinyeie.sw.compiler.random_model import random_inputs, random_layers
from tinyeie.sw.host.frames import Frame, FrameDecoder, encode_frame
from tinyeie.sw.host.payloads import (
    infer_payload,
    load_start_payload,
    parse_error,
    parse_result,
    parse_status,
)

CONFIG = EngineConfig(pes=2, pe_depth=512, col_depth=64, act_depth=64, queue_depth=2)
TIMEOUT = 300               # the frame timeout
ENGINE_TIMEOUT = 1 << 12    # the engine timeout: far above this model's inference
SIM_CYCLES = 200_000        # a scenario that takes longer has hung


def small_model(seed=5):
    rng = np.random.default_rng(seed)
    layers = random_layers(rng, [12, 9, 4], density=0.5, cfg=CONFIG, gap_rows=17)
    inputs = random_inputs(rng, 2, 12, cfg=CONFIG)
    return layers, inputs


def with_header(image, **fields):
    """``image`` with header fields changed and its CRC-32 recomputed: the loader accepts it."""
    words = np.frombuffer(image[:-4], dtype="<u2").copy()
    header = read_header(words)
    header.update(fields)
    del header["magic"], header["version"]
    words[:HEADER_WORDS] = header_words(**header)
    body = words.tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


class Host:
    """The host's end of the server's byte streams: requests out, answer frames in."""

    def __init__(self, dut):
        self.dut = dut
        self.decoder = FrameDecoder(types=list(Response))

    async def request(self, ctx, frame_type, payload=b""):
        rx = self.dut.i_rx
        for byte in encode_frame(frame_type, payload):
            ctx.set(rx.payload, {"data": byte, "error": RxError.NONE})
            ctx.set(rx.valid, 1)
            # one-shot waits: a pending `until()` breaks when the simulation is stopped
            while not (await ctx.tick().sample(rx.ready))[2]:
                pass
            ctx.set(rx.valid, 0)
        while True:
            for event in self.decoder.feed([await stream_get(ctx, self.dut.o_tx)]):
                assert isinstance(event, Frame), f"a damaged answer: {event}"
                return event

    async def load(self, ctx, image, chunk=256):
        answers = [await self.request(ctx, Request.LOAD_START, load_start_payload(len(image)))]
        for k in range(0, len(image), chunk):
            answers.append(await self.request(ctx, Request.LOAD_DATA, image[k:k + chunk]))
        answers.append(await self.request(ctx, Request.LOAD_END))
        return [(Response(a.type).name, a.payload[0]) for a in answers]


def serve(scenario, check_model=False):
    """Run ``scenario(ctx, host)`` against a ModelServer; fail if it takes too long."""
    # (with the check, the first write waits for the memories to be zeroed: 512 cycles)
    dut = ModelServer(CONFIG, timeout_cycles=4 * TIMEOUT if check_model else TIMEOUT,
                      engine_timeout_cycles=ENGINE_TIMEOUT, check_model=check_model)
    host = Host(dut)

    async def testbench(ctx):
        await scenario(ctx, host)

    simulate(dut, [testbench], timeout=SIM_CYCLES, name="model_server")


def describe(frame):
    kind = Response(frame.type)
    if kind == Response.ERROR:
        return ("ERROR", parse_error(frame.payload))
    if kind == Response.STATUS:
        return ("STATUS", parse_status(frame.payload))
    if kind == Response.RESULT:
        return ("RESULT", parse_result(frame.payload))
    return (kind.name, frame.payload[0])




def test_a_good_image_is_served():
    layers, inputs = small_model()
    image = write_image(pack(layers, CONFIG))
    got = {}

    async def scenario(ctx, host):
        got["load"] = await host.load(ctx, image)
        got["results"] = [describe(await host.request(ctx, Request.INFER, infer_payload(x)))
                          for x in inputs]

    serve(scenario)
    assert all(kind == "ACK" for kind, _ in got["load"])
    assert [r.logits for _, r in got["results"]] == int_forward(layers, inputs, CONFIG).tolist()


@pytest.mark.parametrize("change", [
    pytest.param({"in_count": 14}, id="more-inputs-than-the-layers-take"),
    pytest.param({"in_count": 10}, id="fewer-inputs-than-the-layers-take"),
    pytest.param({"out_count": 5}, id="more-outputs-than-the-layers-give"),
    pytest.param({"out_count": 3}, id="fewer-outputs-than-the-layers-give"),
])
def test_an_image_whose_header_disagrees_with_its_layers_cannot_hang_the_board(change):
    layers, inputs = small_model()
    good = write_image(pack(layers, CONFIG))
    bad = with_header(good, **change)
    in_count = change.get("in_count", 12)
    got = {}

    async def scenario(ctx, host):
        got["load"] = await host.load(ctx, bad)
        got["infer"] = describe(await host.request(ctx, Request.INFER, bytes(in_count)))
        got["status"] = describe(await host.request(ctx, Request.STATUS))
        got["again"] = describe(await host.request(ctx, Request.INFER, bytes(in_count)))
        got["reload"] = await host.load(ctx, good)
        got["result"] = describe(await host.request(ctx, Request.INFER,
                                                    infer_payload(inputs[0])))

    serve(scenario)
    assert got["load"][-1] == ("ACK", Request.LOAD_END)        # the loader cannot tell (yet)
    assert got["infer"] == ("ERROR", ("ENGINE-FAULT", "INFER"))
    status = got["status"][1]
    assert not status.model_valid and status.last_error == ErrorCode.ENGINE_FAULT
    assert got["again"] == ("ERROR", ("NO-MODEL", "INFER"))
    assert got["reload"][-1] == ("ACK", Request.LOAD_END)
    # nothing of the inference given up is left in the engine
    assert got["result"][1].logits == int_forward(layers, inputs[:1], CONFIG)[0].tolist()


def test_an_image_whose_runs_all_wrap_around_cannot_hang_the_board():
    """Every column's runs end before they start (each column-table row's base below the one
    before): a PE finds a run's end by the low ``run_end_bits`` of its address, so each run
    wraps round to nearly ``2**run_end_bits`` bytes of whatever the memory holds, and the
    inference still ends, with a RESULT of the model's length; a good image then serves
    exactly. (Image version 2 could be made to walk for ever; version 3 cannot.)"""
    layers, inputs = small_model()
    packed = pack(layers, CONFIG)
    good = write_image(packed)
    wrapped = replace(packed, columns=np.asarray(packed.columns).copy())
    rows = len(wrapped.columns)
    wrapped.columns[:, 0] = 200 - np.arange(rows)      # bases falling a word a row
    wrapped.columns[:, 1:] = 0                         # offsets 0
    got = {}

    async def scenario(ctx, host):
        got["load"] = await host.load(ctx, write_image(wrapped))
        got["infer"] = describe(await host.request(ctx, Request.INFER,
                                                   infer_payload(inputs[0])))
        got["reload"] = await host.load(ctx, good)
        got["result"] = describe(await host.request(ctx, Request.INFER,
                                                    infer_payload(inputs[1])))

    serve(scenario)
    assert got["load"][-1] == ("ACK", Request.LOAD_END)
    assert got["infer"][0] == "RESULT" and len(got["infer"][1].logits) == 4
    assert got["reload"][-1] == ("ACK", Request.LOAD_END)
    assert got["result"][1].logits == int_forward(layers, inputs[1:], CONFIG)[0].tolist()


def without_layer_table(image):
    """``image`` without its layer-table section (the last), resealed."""
    words = np.frombuffer(image[:-4], dtype="<u2")
    at, sections = HEADER_WORDS, read_header(words)["sections"]
    for _ in range(sections - 1):
        at += 3 + int(words[at + 2])
    assert words[at] == Target.LAYERS
    header = read_header(words)
    header["sections"] -= 1
    del header["magic"], header["version"]
    body = np.concatenate([header_words(**header), words[HEADER_WORDS:at]]).astype("<u2")
    return body.tobytes() + struct.pack("<I", zlib.crc32(body.tobytes()))


def _wrapped(packed):
    """``packed`` with every column's runs ending before they start."""
    wrapped = replace(packed, columns=np.asarray(packed.columns).copy())
    wrapped.columns[:, 0] = 200 - np.arange(len(wrapped.columns))
    wrapped.columns[:, 1:] = 0
    return write_image(wrapped)


@pytest.mark.parametrize("broken", ["header", "runs", "section-left-out"])
def test_the_model_check_refuses_an_image_that_is_not_a_model(broken):
    """With the model check (the ECP5 boards' option), the images above are refused at LOAD-END
    with loader error MODEL and never run; so is an image that leaves its layer table out, which
    the memories from the model before would otherwise supply. LOAD-END's answer waits for the
    check (here the LOAD-END frame comes a few cycles after the image's last byte), and a good
    image then loads and serves exactly."""
    layers, inputs = small_model()
    packed = pack(layers, CONFIG)
    good = write_image(packed)
    if broken == "header":
        bad = with_header(good, in_count=10)
    elif broken == "runs":
        bad = _wrapped(packed)
    else:
        bad = without_layer_table(good)
    got = {}

    async def scenario(ctx, host):
        got["first"] = await host.load(ctx, good)
        got["load"] = await host.load(ctx, bad)
        got["status"] = describe(await host.request(ctx, Request.STATUS))
        got["infer"] = describe(await host.request(ctx, Request.INFER, bytes(12)))
        got["reload"] = await host.load(ctx, good)
        got["result"] = describe(await host.request(ctx, Request.INFER,
                                                    infer_payload(inputs[0])))

    serve(scenario, check_model=True)
    assert got["first"][-1] == ("ACK", Request.LOAD_END)
    assert got["load"][-1] == ("ERROR", ErrorCode.BAD_IMAGE)
    status = got["status"][1]
    assert status.last_loader_error == LoaderError.MODEL and not status.model_valid
    assert status.features & Feature.MODEL_CHECK
    assert got["infer"] == ("ERROR", ("NO-MODEL", "INFER"))
    assert got["reload"][-1] == ("ACK", Request.LOAD_END)
    assert got["result"][1].logits == int_forward(layers, inputs[:1], CONFIG)[0].tolist()
