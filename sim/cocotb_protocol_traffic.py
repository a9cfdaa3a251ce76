"""cocotb side of :mod:`tinyeie.sim.protocol_traffic`: play the events on the UART pins, wait
for each event's answers, and write every byte the board sent."""

import cocotb

from tinyeie.sim.harness import sim_args
from tinyeie.sim.streams import start_clock
from tinyeie.sim.uart_model import UARTHost
from tinyeie.sw.host.frames import Frame, FrameDecoder


@cocotb.test()
async def protocol_traffic(dut):
    args = sim_args()
    await start_clock(dut, period_ns=args["period_ns"])
    uart = UARTHost(dut.rx, dut.tx, args["period_ns"], args["divisor"])
    decoder = FrameDecoder()
    answers = bytearray()
    for kind, data, quiet, count in args["events"]:
        data = bytes.fromhex(data)
        await uart.send(data)
        if kind == "line":
            await uart.send(b"\x00", stop=0)
        if quiet:
            await uart.idle(quiet)
        got = 0
        while got < count:
            byte = await uart.recv(1, timeout_cycles=args["answer_cycles"])
            assert byte and byte[0] is not None, \
                f"no answer to {kind} {data[:8].hex()}... ({got} of {count} answers)"
            answers += bytes(byte)
            got += sum(isinstance(e, Frame) for e in decoder.feed(bytes(byte)))
    # anything more the board sends is an extra answer
    extra = await uart.recv(1, timeout_cycles=4 * args["answer_cycles"] // 40)
    if extra and extra[0] is not None:
        answers += bytes(extra)
    with open(args["output"], "wb") as f:
        f.write(bytes(answers))
