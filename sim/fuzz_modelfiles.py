"""Malformed model files through every ``tinyeie`` command that reads one.

The cases come from :mod:`tinyeie.sim.bad_modelfiles` (each a model file damaged on purpose,
malformed by construction). Every case runs through each command that reads its kind of file,
as the user would run it (``tinyeie``'s entry point in a subprocess), and is classified:

* ``refused``: exit status 2 and exactly one line on stderr, no traceback (what must happen);
* ``accepted``: the command went on past the file (exit 0, or it failed later for another
  reason: the serial port of ``infer``);
* ``crashed``: any other exit status, a traceback, or more than one line on stderr;
* ``hung``: still running after the time limit.

The peak memory of every run is the high-water mark of its resident set (``VmHWM``), which
the process reports as it exits.
Seeded and reproducible: ``python -m tinyeie.sim.fuzz_modelfiles --cases 300 --seed 1``
prints the counts as JSON (``--json PATH`` also writes them; ``make fuzz-modelfiles``).
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tinyeie.sim.bad_modelfiles import generate
from tinyeie.sim.verification_doc import print_figures

__all__ = ["COMMANDS", "PEAK_WRAPPER", "PEAK_RSS_BOUND_MB", "run_case", "fuzz", "main"]

#: The commands that read each kind of model file; ``{F}`` is the file, ``{O}`` a fresh
#: output folder. A board command reads the model before the toolchain or the port is used.
COMMANDS = {
    "compressed": [
        ["stats", "{F}"],
        ["decompress", "{F}", "-o", "{O}/dense.npz"],
        ["report", "{F}", "-o", "{O}/report"],
        ["pack", "{F}", "-o", "{O}/packed"],
        ["sim", "{F}", "--images", "1"],
        ["sim", "--board", "icebreaker", "{F}", "--images", "1"],
        ["build", "--board", "icebreaker", "{F}", "-o", "{O}/build"],
    ],
    "float": [
        ["compress", "{F}", "-o", "{O}/compressed.npz"],
    ],
    "image": [
        ["sim", "{F}", "--images", "1"],
        ["sim", "--board", "icebreaker", "{F}", "--images", "1"],
        ["build", "--board", "icebreaker", "{F}", "-o", "{O}/build"],
        ["verilog", "--init", "{F}", "-o", "{O}/engine.v"],
        ["infer", "--port", "/nonexistent/tinyeie-fuzz", "--model-image", "{F}"],
        ["infer", "--port", "/nonexistent/tinyeie-fuzz", "--load", "{F}"],
    ],
}
# LeNet-5 is read by the compression commands only: the engine commands refuse convolutions.
_CONV_COMMANDS = ("stats", "decompress", "report")


def _commands(case):
    commands = COMMANDS[case.kind]
    if case.base == "lenet5":
        commands = [c for c in commands if c[0] in _CONV_COMMANDS]
    return commands


#: How each command runs: ``tinyeie``'s own entry point (what the console script calls), with
#: the process's peak resident memory (VmHWM of the memory it ran in, which the kernel starts
#: afresh at exec: unlike ``ru_maxrss``, it does not count the parent's memory at the fork)
#: written on the way out to ``$TINYEIE_PEAK_FILE``.
PEAK_WRAPPER = """
import atexit, os, sys

def _peak():
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    with open(os.environ["TINYEIE_PEAK_FILE"], "w") as out:
        out.write(hwm.split()[1])

atexit.register(_peak)
sys.argv[0] = "tinyeie"
from tinyeie.cli.main import _entry
_entry()
"""


def _peak_mb(path):
    try:
        return round(int(Path(path).read_text()) / 1024, 1)
    except (OSError, ValueError):
        return None         # killed before it could say (a hang)


def run_case(case, command, workdir, timeout):
    """Run one command on one case; returns a result dict (status, stderr, peak memory)."""
    out_dir = Path(tempfile.mkdtemp(dir=workdir, prefix="out-"))
    argv = [a.replace("{F}", str(case.path)).replace("{O}", str(out_dir)) for a in command]
    peak_file = out_dir / "peak-kb"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="default",
               TINYEIE_PEAK_FILE=str(peak_file))
    with tempfile.TemporaryFile(dir=workdir) as err:
        start = time.monotonic()
        process = subprocess.Popen([sys.executable, "-c", PEAK_WRAPPER, *argv],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=err, env=env, cwd=workdir, start_new_session=True)
        hung = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                os.killpg(process.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(process.pid, 0)
                hung = True
                break
            time.sleep(0.005)
        del usage       # its ru_maxrss counts this process's memory at the fork, not the run
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    lines = stderr.strip().splitlines()
    code = process.returncode
    if hung:
        verdict = "hung"
    elif code == 0 or (code == 2 and len(lines) == 1 and "serial port" in lines[0]):
        verdict = "accepted"
    elif code == 2 and len(lines) == 1 and "Traceback" not in stderr:
        verdict = "refused"
    else:
        verdict = "crashed"
    return {"verdict": verdict, "command": command[0] + (" --board" if "--board" in command
                                                         and command[0] == "sim" else ""),
            "exit": code, "stderr": lines[-1][:300] if lines else "", "lines": len(lines),
            "seconds": round(time.monotonic() - start, 2),
            "peak_rss_mb": _peak_mb(peak_file)}


def fuzz(cases=300, seed=1, workdir=None, timeout=120.0, jobs=1, progress=True):
    """Generate and run the cases; returns the figures as a dict (see :func:`main`)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    with tempfile.TemporaryDirectory(prefix="tinyeie-fuzz-") as tmp:
        workdir = Path(workdir or tmp)
        generated = generate(workdir / "cases", cases, seed)
        runs = [(case, command) for case in generated for command in _commands(case)]
        started = time.monotonic()
        with ThreadPoolExecutor(jobs) as pool, tqdm(total=len(runs), disable=not progress,
                                                    desc="model files", unit="run") as bar:
            def one(job):
                result = run_case(*job, workdir=workdir, timeout=timeout)
                bar.update()
                return result
            results = list(pool.map(one, runs))
    counts = {v: sum(r["verdict"] == v for r in results)
              for v in ("refused", "accepted", "crashed", "hung")}
    by_command = {}
    for r in results:
        entry = by_command.setdefault(r["command"], {"tried": 0, "refused": 0, "accepted": 0,
                                                     "crashed": 0, "hung": 0})
        entry["tried"] += 1
        entry[r["verdict"]] += 1
    failures = [{"case": case.mutation, "kind": case.kind, "base": case.base, **r}
                for (case, _), r in zip(runs, results) if r["verdict"] != "refused"]
    return {
        "files": cases,
        "seed": seed,
        "kinds": {k: sum(c.kind == k for c in generated) for k in COMMANDS},
        "tried": len(runs),
        **counts,
        "one_line_exit_2_percent": round(100 * counts["refused"] / max(1, len(runs)), 2),
        "peak_rss_mb_max": max((r["peak_rss_mb"] or 0 for r in results), default=0),
        "peak_rss_mb_bound": PEAK_RSS_BOUND_MB,
        "seconds_max": max((r["seconds"] for r in results), default=0),
        "wall_seconds": round(time.monotonic() - started, 1),
        "by_command": by_command,
        "failures": failures[:50],
    }


#: The bound every run's peak resident memory must stay under: the interpreter with numpy and
#: the command's modules (about 50-120 MB) plus at most 2 x 64 MiB of weights a file could make
#: a reader take before it is refused.
PEAK_RSS_BOUND_MB = 400


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinyeie.sim.fuzz_modelfiles",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300, help="malformed files (300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="commands run at once (2)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds before a run counts as hung (120)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = fuzz(args.cases, args.seed, timeout=args.timeout, jobs=args.jobs)
    print_figures(figures, args.json)
    ok = (figures["refused"] == figures["tried"]
          and figures["peak_rss_mb_max"] < PEAK_RSS_BOUND_MB)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
