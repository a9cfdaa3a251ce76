"""The host against a line that damages, loses, delays or floods its answers (issue 11,
finding 4): every answer checked before use, a deadline on each exchange, a bounded retry of
requests that are safe to repeat, a clear message for a noisy line. Virtual time throughout."""

import pytest

from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.protocol import ErrorCode, Request, Response
from tinyeie.sim.fuzz_host import FakeLine, Hung, VirtualClock, _Network
from tinyeie.sw.host.board import Board, BoardError, LinkError
from tinyeie.sw.host.frames import FrameDecoder, encode_frame
from tinyeie.sw.host.payloads import result_payload


@pytest.fixture(scope="module")
def network():
    return _Network()


def host_on(network, loaded=True, retries=2, **line_options):
    clock = VirtualClock()
    board = network.board(loaded)
    line = FakeLine(board, clock, **line_options)
    host = Board(line, settle=0.1, deadline=3.0, retries=retries, clock=clock,
                 sleep=clock.sleep)
    return host, line, board


def requests_sent(line):
    return [f.type for data in line.writes for f in FrameDecoder().feed(data)]


@pytest.mark.parametrize("payload", [b"", b"\x05", b"\x05\x05\x05"])
def test_an_error_answer_of_the_wrong_length_is_refused_not_a_crash(network, payload):
    """An ERROR with a good CRC and a 0-, 1- or 3-byte payload raised IndexError/ValueError."""
    host, line, _ = host_on(network, retries=0)
    line.damage = lambda answer, k: encode_frame(Response.ERROR, payload)
    with pytest.raises(LinkError, match=f"does not parse .an ERROR payload has 2 bytes, not "
                                        f"{len(payload)}"):
        host.status()


def test_a_line_that_never_goes_quiet(network):
    """Endless NOISE reports (each a well-formed frame) kept the host reading forever."""
    host, line, _ = host_on(network, retries=0)
    noise = encode_frame(Response.ERROR, bytes([ErrorCode.NOISE, 0]))
    line.damage = lambda answer, k: b""
    line.endless = lambda n: noise * (n // len(noise) + 1)
    with pytest.raises(LinkError, match=r"the line from the board is noisy: [\d,]+ bytes in "
                                        r"[\d.]+ s without a whole answer to STATUS"):
        host.status()
    assert line.reads < 2000         # four frames' worth of bytes, then it stops


def test_a_trickle_ends_at_the_deadline(network):
    """One byte every half timeout: never silent, never an answer."""
    host, line, _ = host_on(network, retries=0)
    line.damage = lambda answer, k: b""
    line.later = [(0.1 * (k + 1), b"\x00") for k in range(10_000)]
    with pytest.raises(LinkError, match="noisy"):
        host.status()
    assert line.clock.now < 3.0 + 2 * line.timeout


def test_a_lost_answer_is_asked_again(network):
    host, line, board = host_on(network)
    line.damage = lambda answer, k: b"" if k == 0 else answer
    assert host.status() == board.status()
    assert requests_sent(line) == [Request.STATUS, Request.STATUS]


def test_a_damaged_infer_answer_is_asked_again(network):
    host, line, _ = host_on(network)
    line.damage = lambda answer, k: answer[:-1] + bytes([answer[-1] ^ 0x40]) if k < 2 else answer
    assert host.infer([1] * 40).cls in range(10)
    assert requests_sent(line) == [Request.INFER] * 3


def test_retries_are_bounded_and_counted(network):
    host, line, _ = host_on(network, retries=2)
    line.damage = lambda answer, k: b""
    with pytest.raises(LinkError, match=r"did not answer STATUS within 0.2 s.*\(3 tries\)"):
        host.status()
    assert requests_sent(line) == [Request.STATUS] * 3


def test_a_load_starts_again_instead_of_resending_data(network):
    """LOAD-DATA is not safe to repeat (the board appends it): a lost ACK restarts the load."""
    host, line, board = host_on(network, loaded=False)
    line.damage = lambda answer, k: b"" if k == 3 else answer       # the 3rd LOAD-DATA's ACK
    host.load(network.image, chunk=256, progress=False)
    assert board.model_valid
    sent = requests_sent(line)
    data = -(-len(network.image) // 256)
    assert sent == ([Request.LOAD_START] + [Request.LOAD_DATA] * 3 + [Request.LOAD_START]
                    + [Request.LOAD_DATA] * data + [Request.LOAD_END])


def test_board_errors_that_are_no_line_fault_are_not_retried(network):
    host, line, _ = host_on(network, loaded=False)
    with pytest.raises(BoardError, match="NO-MODEL") as info:
        host.infer([0] * 40)
    assert info.value.code == ErrorCode.NO_MODEL and requests_sent(line) == [Request.INFER]


def test_a_result_whose_class_is_not_its_argmax(network):
    host, line, _ = host_on(network, retries=0)
    payload = bytearray(result_payload([1, 9, 3], 10))
    payload[12] = 2
    line.damage = lambda answer, k: encode_frame(Response.RESULT, bytes(payload))
    with pytest.raises(LinkError, match="its class 2 is not the largest of its 3 logits"):
        host.infer([0] * 40)


def test_the_fake_line_stops_a_host_that_would_read_forever(network):
    """The fuzzer's own guard: a host without a deadline is caught, not waited for."""
    host, line, _ = host_on(network, max_reads=50)
    line.damage = lambda answer, k: b""
    line.endless = lambda n: bytes(n)
    host.deadline = 1e9
    with pytest.raises((Hung, TinyeieError)):
        host.status()


def test_every_error_code_has_advice_for_the_user():
    """A code added to the contract (a watchdog, say) needs the host to say what it means."""
    from tinyeie.contract.protocol import ErrorCode
    from tinyeie.sw.host.board import _ADVICE

    assert set(ErrorCode) - {ErrorCode.NONE} <= set(_ADVICE)
