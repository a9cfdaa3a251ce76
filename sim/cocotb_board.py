"""cocotb side of the board-top regression (see :mod:`tinyeie.sim.board_run`).

The design is :class:`~tinyeie.boards.top.BoardTop` with its pins as ports: the host's UART
end (:class:`~tinyeie.sim.uart_model.UARTHost`) speaks the protocol of docs/protocol.md through
``rx``/``tx``, and on flash-boot boards a SPI flash model holds the model image.
"""

from dataclasses import replace

import cocotb
import numpy as np
from cocotb.triggers import Event, RisingEdge
from cocotb.utils import get_sim_time

from tinyeie.contract.protocol import ErrorCode, Request, Response
from tinyeie.sim.flash_model import SPIFlashModel
from tinyeie.sim.harness import sim_args
from tinyeie.sim.streams import start_clock
from tinyeie.sim.uart_model import UARTHost
from tinyeie.sw.host.frames import Frame, FrameDecoder, encode_frame
from tinyeie.sw.host.link import infer_request, send_ahead
from tinyeie.sw.host.payloads import (
    infer_payload,
    load_start_payload,
    parse_error,
    parse_result,
    parse_status,
)


class Host:
    """The protocol over the UART pins: send requests, read whole answer frames."""

    def __init__(self, dut, args):
        self.uart = UARTHost(dut.rx, dut.tx, args["period_ns"], args["divisor"])
        self.timeout = args["answer_cycles"]
        self.decoder = FrameDecoder()

    async def send(self, raw):
        await self.uart.send(raw)

    async def answer(self, what):
        """The next frame from the board; fails the test if none comes."""
        while True:
            got = await self.uart.recv(1, timeout_cycles=self.timeout)
            assert got and got[0] is not None, f"the board did not answer {what}"
            for event in self.decoder.feed(got):
                assert isinstance(event, Frame), f"a damaged answer to {what}: {event}"
                return event

    async def request(self, request, payload=b""):
        await self.send(encode_frame(request, payload))
        return await self.answer(Request(request).name)

    async def status(self):
        frame = await self.request(Request.STATUS)
        assert frame.type == Response.STATUS, frame
        return parse_status(frame.payload)

    async def expect_error(self, what, code, request_type):
        frame = await self.answer(what)
        assert frame.type == Response.ERROR, f"{what}: expected an ERROR, got {frame}"
        assert len(frame.payload) == 2 and tuple(frame.payload) == (code, request_type), \
            (f"{what}: expected {ErrorCode(code).name} for type {request_type:#04x}, got "
             f"{parse_error(frame.payload)}")


async def fill_rtl_flash(dut, contents):
    """Write the RTL flash's bytes while the board is held in reset, then release it."""
    dut.load_en.value = 1
    for offset, byte in enumerate(contents):
        dut.load_addr.value = offset
        dut.load_data.value = byte
        await RisingEdge(dut.clk)
    dut.load_en.value = 0
    dut.hold.value = 0


async def booted(dut, args):
    await start_clock(dut, period_ns=args["period_ns"], rst=args.get("reset", "rst"))
    host = Host(dut, args)          # first: it holds the UART line idle (high)
    if args.get("flash"):
        with open(args["flash"], "rb") as f:
            contents = f.read()
        if args.get("rtl_flash"):
            await fill_rtl_flash(dut, contents)
        else:
            SPIFlashModel(dut, "flash_cs_n", "flash_sck", "flash_copi", "flash_cipo", contents,
                          strict=True)
    for _ in range(args["boot_polls"]):
        status = await host.status()
        if status.model_valid or not args.get("expect_model", True):
            return host, status
        await host.uart.idle(args["poll_cycles"])
    raise AssertionError(f"no valid model after boot: {status}")


def _now_cycles(period_ns):
    return get_sim_time("ns") // period_ns


@cocotb.test()
async def board_classifies(dut):
    """INFER every input vector; record logits, classes, cycles and the link's timing for the
    pytest side.

    ``window``: how many INFERs the host keeps unanswered (1: each waits for the previous
    answer). The clock cycles from the first request byte to the last answer byte give the
    images per second at the board's real bit time (``divisor``).
    """
    args = sim_args()
    host, status = await booted(dut, args)
    inputs = np.load(args["inputs"])
    # as the serial host does: sparse frames where shorter, sent ahead where the inbox allows
    if not args.get("link", True):
        status = replace(status, version=1)
    requests = [encode_frame(*infer_request(vector, status)) for vector in inputs]
    period = args["period_ns"]
    answered, sent = [], []
    longest = [None]
    progress = Event()

    async def sender():
        for k, raw in enumerate(requests):
            window = send_ahead(status, longest[0] and 2 * longest[0])
            while k - len(answered) >= window:
                progress.clear()
                await progress.wait()
                window = send_ahead(status, longest[0] and 2 * longest[0])
            sent.append(_now_cycles(period) - start)
            await host.send(raw)

    start = _now_cycles(period)
    cocotb.start_soon(sender())
    logits, classes, cycles = [], [], []
    for _ in inputs:
        frame = await host.answer("INFER")
        answered.append(_now_cycles(period) - start)
        progress.set()
        assert frame.type == Response.RESULT, f"INFER answered with {frame}"
        result = parse_result(frame.payload)
        longest[0] = max(longest[0] or 0, result.cycles)
        logits.append(result.logits)
        classes.append(result.cls)
        cycles.append(result.cycles)
        if args.get("progress"):
            with open(args["progress"], "w") as f:
                f.write(str(len(logits)))
    np.savez(args["output"], logits=np.array(logits), classes=np.array(classes),
             cycles=np.array(cycles), in_count=status.in_count, out_count=status.out_count,
             answered_at=np.array(answered), sent_at=np.array(sent),
             request_bytes=np.array([len(r) for r in requests]))


@cocotb.test()
async def board_answers_bad_frames(dut):
    """Every malformed frame gets its ERROR, and a good request is served right after."""
    args = sim_args()
    host, status = await booted(dut, args)
    good = infer_payload(np.load(args["inputs"])[0])
    for case in args["bad_frames"]:
        raw = bytes.fromhex(case["raw"])
        await host.send(raw) if case.get("stop", 1) else await host.uart.send(raw, stop=0)
        if case.get("quiet"):
            await host.uart.idle(case["quiet"])
        await host.expect_error(case["what"], case["code"], case["type"])
        await host.uart.idle(args["settle_cycles"])
        frame = await host.request(Request.INFER, good)
        assert frame.type == Response.RESULT, f"after {case['what']}: {frame}"
        assert parse_result(frame.payload).logits == args["good_logits"], case["what"]


@cocotb.test()
async def board_refuses_a_corrupted_image(dut):
    """A corrupted model image over the UART is refused and never run; a good one then is."""
    args = sim_args()
    host, _ = await booted(dut, args)
    good = infer_payload(np.load(args["inputs"])[0])
    for path, should_load in ((args["bad_image"], False), (args["good_image"], True)):
        with open(path, "rb") as f:
            image = f.read()
        frame = await host.request(Request.LOAD_START, load_start_payload(len(image)))
        assert frame.type == Response.ACK, frame
        for at in range(0, len(image), 1024):
            frame = await host.request(Request.LOAD_DATA, image[at:at + 1024])
            assert frame.type == Response.ACK, f"chunk at {at}: {frame}"
        if should_load:
            frame = await host.request(Request.LOAD_END)
            assert frame.type == Response.ACK, frame
            assert (await host.status()).model_valid
            frame = await host.request(Request.INFER, good)
            assert frame.type == Response.RESULT, frame
            assert parse_result(frame.payload).logits == args["good_logits"]
        else:
            await host.send(encode_frame(Request.LOAD_END))
            await host.expect_error("LOAD-END of a corrupted image", ErrorCode.BAD_IMAGE,
                                    Request.LOAD_END)
            status = await host.status()
            assert not status.model_valid
            assert status.last_loader_error == args["bad_image_error"], status
            await host.send(encode_frame(Request.INFER, good))
            await host.expect_error("INFER without a model", ErrorCode.NO_MODEL, Request.INFER)


@cocotb.test()
async def board_survives_a_flood(dut):
    """INFERs sent back to back far beyond what the inbox holds: the board answers what it
    can, reports the overrun as an ERROR (LINE), drops the rest until the line is quiet, and
    then serves STATUS and an INFER as ever. Nothing hangs, nothing is misread."""
    args = sim_args()
    host, _ = await booted(dut, args)
    good = infer_payload(np.load(args["inputs"])[0])
    await host.send(encode_frame(Request.INFER, good) * args["flood"])
    results = errors = 0
    while True:
        got = await host.uart.recv(1, timeout_cycles=args["settle_cycles"])
        if not got:
            break
        for event in host.decoder.feed(got):
            assert isinstance(event, Frame), f"a damaged answer in the flood: {event}"
            if event.type == Response.RESULT:
                assert parse_result(event.payload).logits == args["good_logits"]
                results += 1
            else:
                assert event.type == Response.ERROR, event
                errors += 1
    assert 0 < results < args["flood"] and errors, (results, errors)
    await host.uart.idle(args["settle_cycles"])
    status = await host.status()
    assert status.model_valid and status.last_error in (ErrorCode.LINE, ErrorCode.NOISE,
                                                        ErrorCode.BAD_CRC, ErrorCode.TIMEOUT), \
        status
    frame = await host.request(Request.INFER, good)
    assert frame.type == Response.RESULT and parse_result(frame.payload).logits == \
        args["good_logits"]
