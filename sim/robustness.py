"""The Robustness tables of docs/verification.md, made from the fuzzers' JSON figures.

``python -m tinyeie.sim.robustness`` writes the tables from ``docs/verification/fuzz_host.json``
and ``fuzz_modelfiles.json`` (written by ``make fuzz-host`` and ``make fuzz-modelfiles``, which
run it), and from ``fuzz_images.json``, ``fuzz_board_images.json`` and
``fuzz_board_streams.json`` where they exist, between two marker lines of docs/verification.md,
keeping the text around them, as :mod:`tinyeie.sim.verification_doc` does for the table of
checks. A test checks that the document holds exactly these tables, so it cannot drift from the
measured figures.
"""

import json
import sys
from pathlib import Path

from tinyeie.sim.verification_doc import write_between_markers

__all__ = ["table", "per_command", "update", "FIGURES", "BEGIN", "END"]

_REPO = Path(__file__).resolve().parent.parent
FIGURES = _REPO / "docs" / "verification"
BEGIN = "<!-- robustness: begin (python -m tinyeie.sim.robustness writes these tables) -->"
END = "<!-- robustness: end -->"


def table(folder=FIGURES):
    """The markdown table of the fuzzers' figures."""
    host = json.loads((Path(folder) / "fuzz_host.json").read_text())
    files = json.loads((Path(folder) / "fuzz_modelfiles.json").read_text())
    rows = [
        "| fuzzer (command) | tried | refused | accepted | crashed | hung | other |",
        "|---|---|---|---|---|---|---|",
        f"| damaged answers against the host, seed {host['seed']} (`make fuzz-host`) "
        f"| {host['tried']:,} | {host['refused']:,} | {host['accepted']:,} | "
        f"{host['crashed']} | {host['hung']} | {host['wrong']} wrong answers accepted "
        f"({host['seconds']:.0f} s) |",
        f"| {files['files']} malformed model files ({files['kinds']['compressed']} compressed, "
        f"{files['kinds']['float']} float, {files['kinds']['image']} images) through every "
        f"command that reads them, seed {files['seed']} (`make fuzz-modelfiles`) "
        f"| {files['tried']:,} runs | {files['refused']:,} | {files['accepted']} | "
        f"{files['crashed']} | {files['hung']} | {files['one_line_exit_2_percent']:g}% one "
        f"line and exit 2; peak memory {files['peak_rss_mb_max']:.0f} MB (bound "
        f"{files['peak_rss_mb_bound']} MB); slowest run {files['seconds_max']:.1f} s |",
    ]
    images = Path(folder) / "fuzz_images.json"
    if images.exists():
        f = json.loads(images.read_text())
        rows.append(
            f"| structurally edited model images, correct CRC, seed {f['seed']} "
            f"(`make fuzz-images`) | {f['tried']:,} | {f['tried'] - f['loader_accepts']:,} by "
            f"the loader with the model check, {f['tried'] - f['reader_accepts']:,} by "
            f"read_image | {f['reader_accepts']:,} by both | {f['crashed']} | - | "
            f"{f['reader_only'] + f['loader_only']} disagreements between read_image and the "
            f"loader with the model check (ECP5 boards); the loader without it (iCE40 boards) "
            f"takes {f['loader_only_unchecked']:,} that read_image refuses (ENGINE-FAULT or a "
            f"RESULT on the board, never sent by the host) and refuses "
            f"{f['reader_only_unchecked']} it takes ({f['seconds']:.0f} s) |")
    rows += _board_rows(Path(folder))
    return "\n".join(rows)


def _model_refusals(figures):
    """How many of the refused images the model check refused, where the figures say."""
    model = figures.get("refused_by", {}).get("MODEL")
    return f" ({model:,} by the model check: MODEL)" if model else ""


def _board_rows(folder):
    """The board-top fuzzers' rows (``make fuzz-board``), where their figures exist."""
    rows = []
    images, streams = folder / "fuzz_board_images.json", folder / "fuzz_board_streams.json"
    if images.exists():
        f = json.loads(images.read_text())
        rows.append(
            f"| mutated model images through the {f['board']} board top ({f['pes']} PEs; "
            f"LOAD, INFER, STATUS; Verilator), seed {f['seed']} (`make fuzz-board`) "
            f"| {f['tried']:,} | {f['refused']:,} by the loader{_model_refusals(f)} | "
            f"{f['accepted']:,} | "
            f"{f['crashed']} | {f['hung']} | {f['mismatches']} answers unlike the model's; "
            f"{f['ran_refused_by_read_image']:,} runs of images read_image refuses "
            f"({f['ran_refused_by_read_image_engine_fault']:,} ENGINE-FAULT, "
            f"{f['ran_refused_by_read_image_result']:,} RESULT) ({f['seconds']:.0f} s) |")
    if streams.exists():
        f = json.loads(streams.read_text())
        rows.append(
            f"| random and mutated byte streams through the {f['board']} board top, each "
            f"followed by a good frame, seed {f['seed']} (`make fuzz-board`) "
            f"| {f['tried']:,} | {f['refused']:,} answered ERROR | {f['accepted']:,} | "
            f"{f['crashed']} | {f['hung']} | {f['mismatches']} answers unlike the model's, the "
            f"good frame's included ({f['seconds']:.0f} s) |")
    return rows


def per_command(folder=FIGURES):
    """The model-file runs per command, as a markdown table."""
    files = json.loads((Path(folder) / "fuzz_modelfiles.json").read_text())
    rows = ["| command | runs | refused (one line, exit 2) | accepted | crashed | hung |",
            "|---|---|---|---|---|---|"]
    for command, c in files["by_command"].items():
        rows.append(f"| `tinyeie {command}` | {c['tried']} | {c['refused']} | {c['accepted']} "
                    f"| {c['crashed']} | {c['hung']} |")
    return "\n".join(rows)


def update(doc=_REPO / "docs" / "verification.md", folder=FIGURES):
    """Write both tables between the robustness markers of ``doc``."""
    write_between_markers(doc, BEGIN, END, f"{table(folder)}\n\nThe model-file runs by "
                                           f"command:\n\n{per_command(folder)}")

if __name__ == "__main__":
    update(*sys.argv[1:])
