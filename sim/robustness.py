"""The Robustness tables of docs/verification.md, made from the fuzzers' JSON figures.

``python -m tinyeie.sim.robustness`` writes the tables from ``docs/verification/fuzz_host.json``
and ``fuzz_modelfiles.json`` (written by ``make fuzz-host`` and ``make fuzz-modelfiles``, which
run it) between two marker lines of docs/verification.md, keeping the text around them, as
:mod:`tinyeie.sim.verification_doc` does for the table of checks. A test checks that the document
holds exactly these tables, so it cannot drift from the measured figures.
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
    """The markdown table of both fuzzers' figures."""
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
            f"the loader, {f['tried'] - f['reader_accepts']:,} by read_image | "
            f"{f['reader_accepts']:,} by both | {f['crashed']} | - | {f['reader_only']} taken "
            f"by read_image and refused by the loader; {f['loader_only']:,} taken by the loader "
            f"alone (ENGINE-FAULT on the board, never sent by the host) ({f['seconds']:.0f} s) |")
    return "\n".join(rows)


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
