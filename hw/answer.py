"""What the host protocol's receiver posts and its transmitter sends: an answer and STATUS.

:class:`~tinyeie.hw.request_receiver.RequestReceiver` posts one :class:`Answer` per frame into
:class:`~tinyeie.hw.answer_slot.AnswerSlot`, and
:class:`~tinyeie.hw.answer_transmitter.AnswerTransmitter` turns it into bytes. The STATUS
payload is :data:`Status`, a layout of the contract's ``STATUS_FIELDS`` in their order, so its
bits, taken a byte at a time, are the payload's bytes.
"""

from amaranth.lib import data, enum

from tinyeie.contract.protocol import STATUS_FIELDS, ErrorCode

__all__ = ["AnswerKind", "Answer", "Status"]


class AnswerKind(enum.Enum, shape=2):
    """The kind of frame an answer is (its :class:`~tinyeie.contract.protocol.Response`)."""

    STATUS = 0
    ACK = 1
    RESULT = 2
    ERROR = 3


class Answer(data.Struct):
    """One posted answer: all the transmitter needs besides the state it reads as it sends.

    ``code`` is an ERROR's :class:`~tinyeie.contract.protocol.ErrorCode`; ``type`` the request
    type an ACK or ERROR names; ``drain``: the engine's results of a failed INFER are thrown
    away before the ERROR goes out.
    """

    kind: AnswerKind
    code: max(ErrorCode).bit_length()
    type: 8
    drain: 1


#: The STATUS payload: each field little-endian, in the contract's order.
Status = data.StructLayout({name: 8 * size for name, size in STATUS_FIELDS})
