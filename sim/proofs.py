"""The catalogue of formal proofs that ``make formal`` runs (:mod:`tinyeie.sim.formal`).

Each entry names the block as the design instantiates it: the queue specs get the queue out of
an elaborated PE or broadcaster, for the engines the boards build (the iCEBreaker's 4 PEs with
4-deep queues, the ULX3S's 16 PEs with 16-deep ones). ``quick`` proofs are the slice that
``make test`` runs (tests/formal).
"""

from tinyeie.sim.formal import Proof, submodule

__all__ = ["PROOFS"]


def _config(board_name):
    from tinyeie.boards.boards import board
    return board(board_name).engine_config()


def _pe_queue(board_name):
    from tinyeie.hw.pe import PE
    return submodule(PE(_config(board_name)), "queue")


def _inbox(board_name):
    from tinyeie.hw.broadcast import Broadcaster
    return submodule(Broadcaster(_config(board_name)), "inbox")


def _queue_proofs(label, make_queue, depth, quick):
    from tinyeie.sim.proofs_fifo import QueueData, QueueEquivalence, QueueOrder
    # A one-slot queue (hw/slot.py) is ready only when empty: it passes an item every other
    # cycle, so the pair after one other is out by cycle 6, not 2 x depth + 1.
    bound = 2 * depth + 1 if depth > 1 else 2 * (depth + 2)
    return [
        Proof(f"{label}-control", f"{label}: offers, takes and counts items exactly as a FIFO "
              f"model of depth {depth}, in every reachable state",
              lambda: QueueEquivalence(make_queue(), depth), "prove", depth + 1, quick),
        Proof(f"{label}-data", f"{label}: the k-th item read is the k-th written, unchanged, "
              f"for every k <= depth (the last one after the write pointer wrapped)",
              lambda: QueueData(make_queue(), depth + 1), "bmc", depth + 3, quick,
              # the queue's memory as flip-flops: yices is several times faster on those
              script="memory_map; opt -fast"),
        Proof(f"{label}-keeps-order", f"{label}: two consecutive items leave consecutively and "
              f"unchanged within {bound} cycles, after up to depth others",
              lambda: QueueOrder(make_queue(), depth, bound), "bmc", bound + 2, quick),
    ]


def _uart_proofs():
    from tinyeie.sim.proofs_uart import ReceiverSpec, TransmitterSpec
    proofs = []
    for divisor, quick in ((4, True), (5, False)):
        frame = 10 * divisor
        proofs += [
            Proof(f"uart-tx-d{divisor}", f"UART transmitter, {divisor} cycles a bit: two frames "
                  f"back to back, each the 8N1 frame of the byte taken, bit times exact, ready "
                  f"only when the line is free", lambda d=divisor: TransmitterSpec(d), "bmc",
                  2 * frame + 4, quick),
            # (the two-frame receiver proof at divisor 5 takes 5 minutes; 4 is the one run)
            *([Proof(f"uart-rx-d{divisor}", f"UART receiver, {divisor} cycles a bit: from an "
                     f"ideal sender with any gaps and broken stop bits, each frame one item, in "
                     f"order, its byte, FRAMING exactly when the stop bit was low",
                     lambda d=divisor: ReceiverSpec(d), "bmc", 2 * frame + 10, False)]
              if divisor == 4 else []),
            Proof(f"uart-rx-rules-d{divisor}", f"UART receiver, {divisor} cycles a bit, any "
                  f"consumer: an offer stays, unchanged, until taken",
                  lambda d=divisor: ReceiverSpec(d, prompt=False), "bmc", 2 * frame + 10,
                  quick),
        ]
    return proofs


PROOFS = [
    *_queue_proofs("pe-queue-icebreaker", lambda: _pe_queue("icebreaker"),
                   _config("icebreaker").queue_depth, True),
    # The inbox's depth is its own choice (two: docs/engine.md), read off the instance.
    *_queue_proofs("inbox", lambda: _inbox("icebreaker"), _inbox("icebreaker").depth, True),
    *_queue_proofs("pe-queue-ulx3s", lambda: _pe_queue("ulx3s"), _config("ulx3s").queue_depth,
                   False),
    *_uart_proofs(),
]
