"""docs/verification.md's table of checks, produced from the JSON files the checks write
(docs/verification/*.json): ``python -m tinyeie.sim.verification_doc`` (every ``make`` target
that writes a JSON file runs it), so no figure in the table is typed by hand.

The table sits between two marker lines in docs/verification.md; the text around it is kept.
"""

import json
import sys
from pathlib import Path

__all__ = ["rows", "table", "update", "write_between_markers", "print_figures"]

_REPO = Path(__file__).resolve().parent.parent
BEGIN = "<!-- checks: begin (python -m tinyeie.sim.verification_doc writes this table) -->"
END = "<!-- checks: end -->"


def _seconds(value):
    if value is None:
        return "-"
    value = float(value)
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def _formal(data, command):
    for proof in data["proofs"]:
        result = proof["result"]
        yield (f"formal: {proof['what']}", f"{proof['mode']}, depth {proof['depth']}",
               _seconds(proof.get("seconds")), result, command)


def _mnist(data, command):
    for run in data["runs"]:
        yield (f"MNIST test images ({data['model']}) through the engine's RTL, {run['pes']} PEs, "
               f"every logit against the golden model", f"{run['images']:,} images",
               _seconds(run.get("seconds")),
               f"{run['mismatches']} mismatches; {run['errors']} misclassified; "
               f"{run['cycles_mean']:.0f} cycles an image", command)


def _random(data, command):
    traffic = len(data["traffic"])
    yield (f"random networks through the engine's RTL at {', '.join(map(str, data['pes']))} "
           f"PEs, each under {traffic} traffic patterns (source always valid or idle at "
           f"random x sink always ready or stalling at random)",
           f"{data['networks']:,} networks, {data['layers']:,} layers, "
           f"{data['vectors']:,} input vectors", _seconds(data.get("seconds")),
           f"{data['mismatches']} mismatches", command)


def _gate(data, command):
    yield (f"gate-level netlist of `{data['board']}` ({data['pes']} PEs; boot: {data['boot']}): "
           f"MNIST images over the UART against the golden model",
           f"{data['images']} images", _seconds(data.get("simulation_seconds")),
           f"{data['mismatches']} mismatches; {data['cycles_mean']:.0f} cycles an image"
           + (f"; {data['bad_frame']}" if data.get("bad_frame") else ""),
           command)


def _protocol(data, command):
    yield (f"host protocol, random traffic through the board top's UART with the real loader "
           f"and engine ({data['board']}), byte for byte against BoardModel",
           f"{data['frames']:,} frames", _seconds(data.get("seconds")),
           f"{data['mismatches']} mismatches", command)


def _coverage(data, command):
    for module in data["modules"]:
        yield (f"coverage of `{module['module']}` ({data['what']})",
               f"{module['lines_total']} lines, {module['toggles_total']} toggle bits",
               _seconds(data.get("seconds")),
               f"line {module['line_percent']:.1f}%, toggle {module['toggle_percent']:.1f}%",
               command)


# file name (without .json) prefix -> (row maker, the command that writes it)
_KINDS = {
    "formal": (_formal, "make formal"),
    "mnist": (_mnist, "make sim-full"),
    "random": (_random, "make sim-full"),
    "protocol": (_protocol, "make sim-full"),
    "gate": (_gate, "make gate"),
    "coverage": (_coverage, "make coverage"),
}


def rows(folder):
    """The table's rows from every JSON file in ``folder``, in the order of ``_KINDS``."""
    folder = Path(folder)
    out = []
    for prefix, (make_rows, command) in _KINDS.items():
        for path in sorted(folder.glob(f"{prefix}*.json")):
            data = json.loads(path.read_text())
            out += [row + (path.name,) for row in make_rows(data, command)]
    return out


def table(folder):
    lines = ["| check | how many | how long | result | command | figures |",
             "|---|---|---|---|---|---|"]
    for what, many, long, result, command, source in rows(folder):
        lines.append(f"| {what} | {many} | {long} | {result} | `{command}` | "
                     f"[{source}](verification/{source}) |")
    return "\n".join(lines)


def write_between_markers(doc, begin, end, body):
    """Replace what lies between the lines ``begin`` and ``end`` of ``doc`` with ``body``,
    keeping the text around them."""
    text = Path(doc).read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{doc} has no markers {begin!r} ... {end!r}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    Path(doc).write_text(f"{head}{begin}\n{body}\n{end}{tail}")


def print_figures(figures, path=None):
    """Print a check's figures as JSON and, given ``path``, write them there too (the files
    this module makes the table from)."""
    text = json.dumps(figures, indent=2)
    print(text)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")


def update(doc=_REPO / "docs" / "verification.md", folder=_REPO / "docs" / "verification"):
    write_between_markers(doc, BEGIN, END, table(folder))


if __name__ == "__main__":
    update(*sys.argv[1:])
