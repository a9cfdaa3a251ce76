"""How a host uses the link: which INFER frame carries an input, and how far it may send ahead.

docs/protocol.md ("Sparse inputs", "Sending ahead") gives the rules; the serial host
(:class:`~tinyeie.sw.host.board.Board`) and the board simulations (:mod:`tinyeie.sim.
cocotb_board`) both follow them from here.
"""

from tinyeie.contract.protocol import Feature, Request
from tinyeie.sw.host.payloads import infer_payload, sparse_payload

__all__ = ["infer_request", "send_ahead", "RESULT_FRAME_OVERHEAD", "INBOX_MARGIN"]

#: A RESULT frame's bytes besides its logits: start, type, length, class, cycle count, CRC.
RESULT_FRAME_OVERHEAD = 4 + 5 + 2
#: Bytes of the inbox a host leaves free: for the UART's own register and rounding.
INBOX_MARGIN = 16


def infer_request(activations, status):
    """``(request type, payload)`` for one input on a board whose STATUS is ``status``: an
    INFER-SPARSE when the board takes them (version 2, :attr:`Feature.SPARSE`) and its payload
    is shorter, else an INFER.

    >>> from tinyeie.sw.host.payloads import Status
    >>> v2 = Status(2, True, 4, 8, 8, 24, 6, 3, 0, 0, Feature.SPARSE, 256, 8)
    >>> infer_request([0, 0, 0, 0, 9, 0], v2)
    (<Request.INFER_SPARSE: 6>, b'\\x04\\t')
    >>> infer_request([1, 2, 3, 0, 9, 0], v2)[0].name
    'INFER'
    """
    dense = infer_payload(activations)
    if status.version >= 2 and status.features & Feature.SPARSE:
        sparse = sparse_payload(activations)
        if len(sparse) < len(dense):
            return Request.INFER_SPARSE, sparse
    return Request.INFER, dense


def send_ahead(status, engine_cycles):
    """How many INFERs a host may keep unanswered (1 or 2) on a board whose STATUS is
    ``status``, for a model whose inferences take up to ``engine_cycles`` (None: not known yet).

    A request sent ahead waits in the board's inbox while the board finishes the one before:
    while its engine runs (``engine_cycles``, at ``10 * bit_cycles`` clock cycles a byte on
    the line) and its RESULT goes out. Two are kept unanswered when those bytes fit the inbox
    with room to spare, else one.

    >>> from tinyeie.sw.host.payloads import Status
    >>> send_ahead(Status(2, True, 4, 8, 8, 24, 784, 10, 0, 0, 1, 256, 8), 2552)
    2
    >>> send_ahead(Status(2, True, 4, 8, 8, 24, 784, 10, 0, 0, 1, 256, 8), 40_000)
    1
    """
    if status.version < 2 or not status.rx_buffer or not status.bit_cycles \
            or engine_cycles is None:
        return 1
    waiting = (-(-engine_cycles // (10 * status.bit_cycles)) + 4 * status.out_count
               + RESULT_FRAME_OVERHEAD)
    return 2 if waiting + INBOX_MARGIN <= status.rx_buffer else 1
