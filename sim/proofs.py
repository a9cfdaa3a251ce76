"""The catalogue of formal proofs that ``make formal`` runs (:mod:`tinyeie.sim.formal`).

Each entry names the block as the design instantiates it: the queue specs get the queue out of
an elaborated PE, broadcaster or host protocol, for the engines the boards build (the
iCEBreaker's 4 PEs with one-slot queues, the ULX3S's 16 PEs with 16-deep ones, the ULX3S's
request inbox of 1024 bytes). ``quick`` proofs are the slice that ``make test`` runs
(tests/formal).
"""

from dataclasses import replace

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


def _request_inbox(board_name, depth=None):
    """The host protocol's request inbox as the board's build makes it; at ``depth`` bytes
    instead of the board's if given (the same ring with narrower pointers)."""
    from tinyeie.boards.boards import board
    from tinyeie.hw.protocol import HostProtocol
    spec = board(board_name)
    options = spec.link_options()
    if depth is not None:
        options["rx_buffer"] = depth
    return submodule(HostProtocol(spec.engine_config(), **options), "inbox")


def _queue_proofs(label, make_queue, depth, quick, *, delay=0, small=None):
    """Control (induction), data and order (BMC) of a queue of ``depth`` items whose items
    take ``delay`` cycles beyond one to be offered. ``small``: ``(depth, make_queue)`` of the
    same queue at a depth BMC can reach, for data and order, when ``depth`` is out of reach."""
    from tinyeie.sim.proofs_fifo import QueueData, QueueEquivalence, QueueOrder
    bmc_depth, make_bmc_queue = small or (depth, make_queue)
    at = f" (at {bmc_depth} items, not the build's {depth})" if small else ""
    if delay:
        # Always read, the queue passes an item a cycle, each 1 + delay cycles after its write.
        bound = bmc_depth + 3 + delay
    elif bmc_depth > 1:
        bound = 2 * bmc_depth + 1
    else:
        # A one-slot queue (hw/slot.py) is ready only when empty: it passes an item every
        # other cycle, so the pair after one other is out by cycle 6, not 2 x depth + 1.
        bound = 2 * (bmc_depth + 2)
    return [
        Proof(f"{label}-control", f"{label}: offers, takes and counts items exactly as a FIFO "
              f"model of depth {depth}" + (f" holding each item {delay} cycle(s) more"
                                          if delay else "") + ", in every reachable state",
              lambda: QueueEquivalence(make_queue(), depth, delay), "prove",
              3 if delay else depth + 1, quick),
        Proof(f"{label}-data", f"{label}: the k-th item read is the k-th written, unchanged, "
              f"for every k <= depth (the last one after the write pointer wrapped){at}",
              lambda: QueueData(make_bmc_queue(), bmc_depth + 1), "bmc",
              bmc_depth + 3 + delay, quick,
              # the queue's memory as flip-flops: yices is several times faster on those
              script="memory_map; opt -fast"),
        Proof(f"{label}-keeps-order", f"{label}: two consecutive items leave consecutively and "
              f"unchanged within {bound} cycles, after up to depth others{at}",
              lambda: QueueOrder(make_bmc_queue(), bmc_depth, bound), "bmc", bound + 2, quick),
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


#: The engine of the loader's bounded proofs: the iCEBreaker's.
LOADER_CONFIG = _config("icebreaker")
# The first write is offered with the 40th byte after `start`: 32 header bytes, a 6-byte
# section header and a data word's 2 bytes. 46 cycles cover three data words.
LOADER_DEPTH = 46
# The loader's header rule table is a ROM after yosys's proc_rom; induction starts from any
# state, memories included, so the ROM is turned back into logic.
_ROM_AS_LOGIC = "memory_map -rom-only; opt -fast"


def _loader_proofs():
    from tinyeie.contract.image import HEADER_WORDS, SECTION_WORDS
    from tinyeie.sim.proofs_loader import LoaderSafety
    assert LOADER_DEPTH == 1 + 2 * (HEADER_WORDS + SECTION_WORDS) + 2 * 3 + 1
    proofs = []
    for board_name in ("icebreaker", "ulx3s"):
        proofs.append(Proof(
            f"loader-safety-{board_name}", f"model-image loader for the {board_name}'s engine: "
            "for any bytes at any times, any engine back-pressure and any `start`, a write "
            "reaches the engine only after a whole header that keeps every rule, before the "
            "loader's verdict, and inside a memory the engine has, in every reachable state",
            lambda b=board_name: LoaderSafety(_config(b), invariants=True), "prove", 3, True,
            script=_ROM_AS_LOGIC))
    proofs.append(Proof(
        "loader-safety-cover", "model-image loader: an image's third write is reached within "
        f"{LOADER_DEPTH} cycles of `start` (the safety proof is not vacuous)",
        lambda: LoaderSafety(LOADER_CONFIG), "cover", LOADER_DEPTH, False))
    return proofs


#: The receiver liveness proofs' frame timeout (the boards': 2**20 cycles) and the bound that
#: follows: the timeout's quiet cycles, one to abort, act_depth zeros to complete an INFER's
#: input, one to post the ERROR, one to be idle (one cycle less fails, tests/formal).
LIVENESS_TIMEOUT = 16
#: The receiver liveness proofs' engine: the iCEBreaker's, with models of at most 8 inputs (an
#: INFER cut short is completed with up to act_depth zeros, which the bound must cover).
LIVENESS_CONFIG = replace(_config("icebreaker"), act_depth=8)
LIVENESS_BOUND = LIVENESS_TIMEOUT + LIVENESS_CONFIG.act_depth + 3


def _liveness_proofs():
    from tinyeie.sim.proofs_protocol import ReceiverLiveness
    cfg, bound = LIVENESS_CONFIG, LIVENESS_BOUND
    proofs = []
    for sparse, builds in ((False, "iCE40"), (True, "ECP5")):
        kind = "sparse" if sparse else "dense"
        proofs.append(Proof(
            f"receiver-liveness-{kind}", f"request receiver as the {builds} builds make it "
            f"(INFER-SPARSE {'on' if sparse else 'off'}), frame timeout {LIVENESS_TIMEOUT} "
            f"cycles, models of up to {cfg.act_depth} inputs: from every reachable state, a "
            f"quiet line returns it to idle within {bound} cycles, given a free answer slot and "
            f"an engine that takes its zeros",
            lambda s=sparse: ReceiverLiveness(cfg, timeout_cycles=LIVENESS_TIMEOUT, sparse=s,
                                              bound=bound, invariants=True),
            # the induction must see the line go quiet: longer than the bound
            "prove", bound + 2, True))
    return proofs


PROOFS = [
    *_queue_proofs("pe-queue-icebreaker", lambda: _pe_queue("icebreaker"),
                   _config("icebreaker").queue_depth, True),
    # The inbox's depth is its own choice (two: docs/engine.md), read off the instance.
    *_queue_proofs("inbox", lambda: _inbox("icebreaker"), _inbox("icebreaker").depth, True),
    *_queue_proofs("pe-queue-ulx3s", lambda: _pe_queue("ulx3s"), _config("ulx3s").queue_depth,
                   False),
    # The request inbox (ECP5 boards; the iCE40's builds have none): its control proof closes
    # by induction at the build's 1024 bytes; tracking an item through 1024 writes is beyond
    # BMC, so data and order are proven on the same ring at 16 bytes.
    *_queue_proofs("request-inbox-ulx3s", lambda: _request_inbox("ulx3s"),
                   _request_inbox("ulx3s").depth, True, delay=1,
                   small=(16, lambda: _request_inbox("ulx3s", 16))),
    *_loader_proofs(),
    *_liveness_proofs(),
    *_uart_proofs(),
]
