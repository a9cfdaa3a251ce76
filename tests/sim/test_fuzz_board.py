"""The board-top fuzzers (`make fuzz-board` runs them at full size): a short slice of each finds
no hang and no answer unlike the model's, each can fail, and the defect the image fuzzer found
stays fixed."""

from dataclasses import replace

import numpy as np
import pytest

from tinyeie.boards.boards import board
from tinyeie.contract.protocol import LoaderError, Request
from tinyeie.sim import fuzz_board
from tinyeie.sim.fuzz_board import fuzz_images, fuzz_streams
from tinyeie.sim.script_player import parse_answers, play
from tinyeie.sw.compiler.image import read_image
from tinyeie.sw.compiler.interpreter import Interpreter
from tinyeie.sw.host.board_model import image_verdict
from tinyeie.sw.host.frames import encode_frame
from tinyeie.sw.host.payloads import infer_payload, result_payload


def test_the_answers_file_is_read_wait_by_wait():
    segments, hung, finished = parse_answers("5a\n01\ne\n!00\nff\ne\n02\nh\nd\n")
    assert segments == [[0x5A, 1], [None, 0xFF], [2]] and hung and finished


def _judged(script, answers, after=b""):
    """Judge ``script`` against answers as the player would write them (the bytes before each
    wait ended, then those ``after`` the last), without a simulation."""
    text = "".join("".join(f"{b:02x}\n" for b in seg) + "e\n" for seg in answers)
    return fuzz_board._judge(script, *parse_answers(text + "".join(f"{b:02x}\n" for b in after)
                                                    + "d\n"))


def _status_script():
    script = fuzz_board._Script(fuzz_board.Target(board("ulx3s")))
    for case in range(3):
        script.request(case, "STATUS", Request.STATUS)
    return script


def test_the_judge_catches_a_wrong_byte_and_an_answer_too_many():
    script = _status_script()
    good = [e.want for e in script.events]
    assert _judged(script, good) == ({}, [], None)
    wrong = bytearray(good[1])
    wrong[7] ^= 4
    outcome, failures, stopped = _judged(script, [good[0], wrong, good[2]])
    assert outcome == {1: "mismatch"} and stopped == 1
    assert failures[0]["sent"] == encode_frame(Request.STATUS).hex()
    outcome, failures, stopped = _judged(script, good, after=good[2])
    assert outcome == {2: "mismatch"} and "after the last request" in failures[0]["what"]


@pytest.mark.verilator
def test_image_fuzzer_slice():
    """150 mutated images through the ULX3S top: no hang, every answer the model's (seed 1's
    cases 28, 34 and 38 are the defect below), and with the model check no image that
    read_image refuses runs."""
    figures = fuzz_images(150, seed=1, progress=False)
    assert figures["hung"] == figures["mismatches"] == figures["crashed"] == 0, \
        figures["failures"]
    assert figures["tried"] == 150 and figures["refused"] > 30 and figures["accepted"] > 30
    assert figures["ran_refused_by_read_image"] == 0
    assert figures["refused_by"].get("MODEL", 0) > 5     # the edits reach the model check


@pytest.mark.verilator
def test_stream_fuzzer_slice():
    """1,000 random and mutated byte streams, each followed by a good frame served exactly."""
    figures = fuzz_streams(1000, seed=3, progress=False)
    assert figures["hung"] == figures["mismatches"] == figures["crashed"] == 0, \
        figures["failures"]
    assert figures["refused"] > 300 and figures["accepted"] > 30
    assert figures["good_frames"].get("INFER", 0) > 100


@pytest.mark.verilator
@pytest.mark.parametrize("fuzz", [fuzz_images, fuzz_streams])
def test_a_wrong_expected_byte_is_a_mismatch(fuzz):
    figures = fuzz(12, seed=2, progress=False, sabotage="answer")
    assert figures["mismatches"] == 1 and figures["hung"] == 0, figures
    assert figures["failures"][0]["what"] == "mismatch"


@pytest.mark.verilator
@pytest.mark.parametrize("fuzz", [fuzz_images, fuzz_streams])
def test_an_answer_that_never_comes_is_a_hang(fuzz):
    figures = fuzz(12, seed=2, progress=False, sabotage="frames")
    assert figures["hung"] >= 1, figures
    failure = figures["failures"][0]
    assert failure["what"] == "hung" and failure["sent"] and failure["request"]


@pytest.mark.verilator
def test_a_valid_model_after_broken_images_that_ran():
    """Regression: two images the loader takes and read_image refuses (seed 1's image cases 28
    and 34), each run to a RESULT, left the engine in a state that gave the next, valid model
    wrong logits (found by `fuzz_board images`; the engine is now reset at LOAD-START). A board
    with the model check refuses such images; one without (the iCE40 boards; here the ULX3S
    top built without it) runs them."""
    target = fuzz_board.Target(replace(board("ulx3s"), model_check=False))
    bases = fuzz_board._image_bases(target, 1, 32)
    script = fuzz_board._Script(target)
    for case in (28, 34):
        figures = fuzz_board._image_case(script, case, 1, bases)
        assert figures["accepted"] and figures.get("ran_unknown"), \
            "the generator changed: find two such images again (fuzz_board images, seed 1)"
    image = bases[11]
    assert image_verdict(image, target.config)[0] == LoaderError.NONE
    acts = [int(a) for a in np.random.default_rng(5).integers(-128, 128, 12)]
    assert script.load(99, image, np.random.default_rng(0))
    want = script.request(99, "INFER", Request.INFER, infer_payload(acts))
    logits = Interpreter(read_image(image, target.config)).run(acts).logits
    assert want == encode_frame(0x85, result_payload(logits, 0))
    outcome, failures, stopped = fuzz_board._judge(
        script, *play(target.sim(), script.finish(), target.sim().directory / "runs" /
                      "regression", budget_cycles=script.cycles + 100_000))
    assert stopped is None and not failures, failures


@pytest.mark.verilator
def test_the_quiet_line_is_counted_after_the_answers():
    """Regression (the one hang of the first full stream run, seed 1 case 68417): two
    INFER-SPARSE sent ahead, then a frame the board drops and one byte more. That byte waits in
    the inbox while the RESULTs go out, and the board counts its quiet time from when it takes
    the byte (docs/protocol.md): a host that lets the line be quiet from its own last byte
    sends its next frame while the board still drops bytes. The fuzzer waits for the answers
    first."""
    target = fuzz_board.Target(board("ulx3s"))
    script = fuzz_board._Script(target)
    sparse = bytes.fromhex("5a0607000201d30702de397141")
    script.exchange(0, "stream", [(sparse + sparse + bytes.fromhex("5a095c"), False)])
    script.request(0, "STATUS", Request.STATUS)
    assert [e.kind for e in script.events] == ["stream", "stream, then a quiet line", "STATUS"]
    outcome, failures, stopped = fuzz_board._judge(
        script, *play(target.sim(), script.finish(), target.sim().directory / "runs" /
                      "quiet", budget_cycles=script.cycles + 100_000))
    assert not failures, failures
