"""`roofline profile`: run a suite of registered kernels, time them, meter their energy, write a trace.

A suite is data (TOML under roofline/suites/ or a path): kernels, their shapes ("bench", "quick" or
explicit tables), dtypes and implementations. Everything the user can get wrong (unknown kernel,
unreadable suite, unwritable output, ncu missing) is checked before the first kernel runs, so bad
input writes nothing. Rows are written as they complete; Ctrl-C keeps them and says so.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import signal
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import hwdb
from kernels.registry import load_all, max_rel_error
from roofline import validate
from roofline.errors import InputError, UnknownNameError
from roofline.measure import traces
from roofline.measure.device_query import MEMORY_TOLERANCE, match_device, query_local
from roofline.measure.meters import pick_meter
from roofline.measure.meters.base import MeterError
from roofline.measure.ncu import find_ncu, profile_rows
from roofline.measure.timers import (
    KernelWrongError,
    busy_warning,
    check_output,
    spread_warning,
    sync_for,
    time_point,
)
from roofline.measure.trace_schema import REFERENCE_IMPL, TRACE_COLUMNS
from roofline.ops import total_bytes, total_flops

SUITES_DIR = Path(__file__).parent / "suites"


@dataclass(frozen=True)
class SuiteEntry:
    kernel: str
    shapes: str | tuple[dict[str, Any], ...] = "default"  # "bench" | "quick" | explicit shapes
    dtypes: tuple[str, ...] = ()  # empty: all the kernel's dtypes
    impls: tuple[str, ...] = ()  # empty: every implementation the bench offers


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    entries: tuple[SuiteEntry, ...]
    target_s: float | None = None
    window_s: float = 1.0
    trials: int = 3
    path: str = ""


@dataclass(frozen=True)
class Point:
    kernel: str
    shape: dict[str, Any]
    dtype: str
    impls: tuple[str, ...]


@dataclass
class ProfileConfig:
    suite: str = "quick"
    kernels: list[str] | None = None
    device: str | None = None
    out: str | None = None  # traces root; default roofline.measure.traces.traces_root()
    energy: str = "auto"  # auto | nvml | rapl | modeled | none
    window_s: float | None = None
    trials: int | None = None
    target_s: float | None = None
    ncu: bool = False
    ncu_kernels: list[str] | None = None
    use_gpu: bool = True
    force_device: bool = False  # label the rows ``device`` even when the host is not that device
    command: str = field(default_factory=lambda: shlex.join(["roofline", *sys.argv[1:]]))


@dataclass
class ProfileResult:
    run_id: str
    path: Path | None
    rows: pd.DataFrame
    warnings: list[str]
    interrupted: bool
    device_id: str
    device_name: str
    energy_method: str
    signal: int = 0  # the signal that stopped the run (2 Ctrl-C, 15 SIGTERM, 1 SIGHUP); 0 when it was not stopped


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a run, handled like Ctrl-C: the completed rows are kept and the manifest
    says ``complete: false``; the CLI exits 128 + the signal number, as a shell reports it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _signals_stop_the_run() -> Iterator[None]:
    """SIGTERM / SIGHUP raise ``Stopped`` in the main thread while a run is measuring (elsewhere, e.g. a
    dashboard worker thread, Python cannot install handlers and the defaults stay)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        raise Stopped(signum)

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def device_claim(dev, device_id: str | None, force: bool) -> str:
    """Is the host the device the rows will be labelled with? '' when it is (matched by driver name and
    memory, or named with ``--device`` and plausibly that part); the host's own name when ``force`` labels
    it anyway (the rows say so in ``device_forced`` and calibration refuses them). Raises InputError
    otherwise: CPU timings labelled h100-sxm would let calibrate fit H100 ceilings from them."""
    if not device_id:
        return ""
    hw = hwdb.get(device_id)
    matched, _ = match_device(dev.device_name, dev.memory_bytes, hwdb.load())
    local = f"{'GPU' if dev.kind == 'gpu' else 'CPU'} {dev.device_name!r}"
    if matched == device_id:
        return ""
    if matched:
        why = f"this host's {local} is {matched}, not {device_id}"
    elif hw.kind not in (("gpu",) if dev.kind == "gpu" else ("cpu", "soc")):
        why = f"this host measures a {local}, and {device_id} is a {hw.kind}"
    elif not _plausible(hw, dev):
        why = f"this host's {local} does not look like {hw.name}"
    else:
        return ""
    if force:
        return f"{dev.kind}: {dev.device_name}"
    raise InputError(f"--device {device_id}: {why}; pass --force-device to label the rows {device_id} anyway "
                     "(they are then marked forced and never calibrated)")


def _plausible(hw, dev) -> bool:
    """The host's name carries a model token of the hwdb name (``H200``, ``9654``) and, for a GPU, its
    memory is within the matching tolerance of the hwdb capacity."""
    tokens = [t for t in re.split(r"[\s(),/]+", hw.name.lower()) if any(ch.isdigit() for ch in t)]
    local = dev.device_name.lower()
    if not any(t in local for t in tokens):
        return False
    if dev.kind == "gpu" and dev.memory_bytes:
        return abs(dev.memory_bytes - hw.memory_bytes) / hw.memory_bytes <= MEMORY_TOLERANCE
    return True


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a TOML file; raises InputError / UnknownNameError in one line."""
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        if name_or_path not in suite_names():
            raise UnknownNameError("suite", name_or_path, suite_names())
        p = SUITES_DIR / f"{name_or_path}.toml"
    try:
        raw = tomllib.loads(p.read_text())
    except OSError as e:
        raise InputError(f"cannot read suite file {p}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"suite file {p} is not valid TOML: {e}") from None
    return parse_suite(raw, str(p))


# Bounds on the measuring knobs, from a suite or the command line: past them a run would take hours, not
# minutes, which is always a typo (the full suite runs with 0.25 s targets and 1 s windows).
MAX_TARGET_S = 600.0
MAX_WINDOW_S = 600.0
MAX_TRIALS = 1000
ENERGY_CHOICES = ("auto", "nvml", "rapl", "modeled", "none")
_SUITE_KEYS = {"name", "description", "timing", "energy", "kernels"}
_KERNEL_KEYS = {"name", "shapes", "dtypes", "impls"}


def _shape(where: str, s: Any) -> dict[str, Any]:
    """One explicit shape: a table of scalars (finite numbers, strings, booleans)."""
    if not isinstance(s, dict) or not s:
        raise InputError(f"{where} must be a non-empty table of shape parameters, got {s!r}")
    for k, v in s.items():
        if isinstance(v, bool) or isinstance(v, str):
            continue
        validate.number(f"{where}.{k}", v)
    return dict(s)


def parse_suite(raw: dict, where: str = "<suite>") -> Suite:
    """Validate a suite document (every field: unknown keys, types, bounds); InputError names file and field."""
    validate.keys(where, raw, _SUITE_KEYS)
    ks = raw.get("kernels")
    if not isinstance(ks, list) or not ks:
        raise InputError(f"{where}: a suite needs at least one [[kernels]] table")
    entries = []
    for i, k in enumerate(ks):
        at = f"{where}: kernels[{i}]"
        if not isinstance(k, dict) or not isinstance(k.get("name"), str) or not k["name"].strip():
            raise InputError(f"{at} needs a name")
        validate.keys(at, k, _KERNEL_KEYS)
        shapes = k.get("shapes", "default")
        if isinstance(shapes, list):
            if not shapes:
                raise InputError(f"{at}.shapes is an empty list")
            shapes = tuple(_shape(f"{at}.shapes[{j}]", s) for j, s in enumerate(shapes))
        elif shapes not in ("bench", "quick", "default"):
            raise InputError(f"{at}.shapes {shapes!r} is not \"bench\", \"quick\" or a list of tables")
        dtypes = validate.strings(f"{at}.dtypes", k["dtypes"]) if "dtypes" in k else ()
        impls = validate.strings(f"{at}.impls", k["impls"]) if "impls" in k else ()
        entries.append(SuiteEntry(k["name"], shapes, dtypes, impls))
    timing = validate.keys(f"{where}: [timing]", raw.get("timing", {}), {"target_s"})
    energy = validate.keys(f"{where}: [energy]", raw.get("energy", {}), {"window_s", "trials"})
    name = validate.text(f"{where}: name", raw["name"]) if "name" in raw else Path(where).stem
    return Suite(name=name, description=validate.text(f"{where}: description", raw.get("description", ""), empty=True),
                 entries=tuple(entries),
                 target_s=validate.optional_positive(f"{where}: timing.target_s", timing.get("target_s"),
                                                     hi=MAX_TARGET_S),
                 window_s=float(validate.positive(f"{where}: energy.window_s", energy.get("window_s", 1.0),
                                                  hi=MAX_WINDOW_S)),
                 trials=validate.positive(f"{where}: energy.trials", energy.get("trials", 3), integer=True,
                                          hi=MAX_TRIALS),
                 path=where)


def check_config(cfg: ProfileConfig) -> None:
    """Refuse a bad knob before anything runs (the CLI and Python callers alike): InputError in one line."""
    validate.text("--suite", cfg.suite)
    validate.choice("--energy", cfg.energy, ENERGY_CHOICES)
    validate.optional_positive("--window (s)", cfg.window_s, hi=MAX_WINDOW_S)
    validate.optional_positive("--trials", cfg.trials, integer=True, hi=MAX_TRIALS)
    validate.optional_positive("--target (s)", cfg.target_s, hi=MAX_TARGET_S)
    for flag, names in (("--kernels", cfg.kernels), ("--ncu-kernels", cfg.ncu_kernels)):
        if names is not None:
            validate.strings(flag, list(names))
            if not names:
                raise InputError(f"{flag} lists no kernels")
    if cfg.ncu_kernels is not None and not cfg.ncu:
        raise InputError("--ncu-kernels needs --ncu")


def plan(suite: Suite, registry: dict, kernels: list[str] | None, on_gpu: bool) -> tuple[list[Point], list[str]]:
    """The points to run, and warnings for suite kernels that are not registered (skipped).

    ``kernels`` filters; a name that is not registered is an error (UnknownNameError); a registered kernel
    the suite does not list runs with its default shapes.
    """
    warnings: list[str] = []
    entries = list(suite.entries)
    if kernels:
        for k in kernels:
            if k not in registry:
                raise UnknownNameError("kernel", k, list(registry))
        listed = {e.kernel for e in entries}
        entries = [e for e in entries if e.kernel in kernels] + [SuiteEntry(k) for k in kernels if k not in listed]
    points = []
    for e in entries:
        entry = registry.get(e.kernel)
        if entry is None:
            warnings.append(f"kernel {e.kernel!r} is not registered yet; skipped")
            continue
        kind = e.shapes if e.shapes != "default" else ("bench" if on_gpu else "quick")
        if kind == "bench":
            shapes = entry.bench_shapes
        elif kind == "quick":
            shapes = entry.quick_shapes or entry.bench_shapes
        else:
            shapes = kind
        dtypes = e.dtypes or entry.dtypes
        for dt in dtypes:
            if dt not in entry.dtypes:
                warnings.append(f"kernel {e.kernel!r} has no dtype {dt!r} (has {', '.join(entry.dtypes)}); skipped")
                continue
            points += [Point(e.kernel, dict(s), dt, e.impls) for s in shapes]
    return points, warnings


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def make_row(run_id: str, dev, point: Point, impl: str, timing, flops: float, nbytes: float, err: float,
             energy, versions: dict) -> dict[str, Any]:
    """One trace row (TRACE_COLUMNS) from a timed and metered implementation."""
    nan = math.nan
    if energy is not None and math.isnan(energy.energy_j):
        energy = None  # no number: no method label either
    row = {
        "run_id": run_id, "kernel": point.kernel, "impl": impl, "shape": _json(point.shape), "dtype": point.dtype,
        "device_id": dev.device_id, "device_name": dev.device_name, "median_s": timing.median_s,
        "p20_s": timing.p20_s, "p80_s": timing.p80_s, "reps": timing.reps, "timing_method": timing.method,
        "flops": flops, "bytes": nbytes,
        "energy_j": energy.energy_j if energy else nan,
        "energy_dynamic_j": energy.energy_dynamic_j if energy else nan,
        "energy_cv": energy.energy_cv if energy else nan, "power_w": energy.power_w if energy else nan,
        "idle_power_w": energy.idle_power_w if energy else nan, "energy_method": energy.method if energy else "",
        "sm_clock_mhz_before": energy.sm_clock_mhz_before if energy else nan,
        "sm_clock_mhz_after": energy.sm_clock_mhz_after if energy else nan,
        "temp_c_before": energy.temp_c_before if energy else nan, "temp_c_after": energy.temp_c_after if energy else nan,
        "throttle_reasons": energy.throttle_reasons if energy else "", "max_err": err,
        "ncu_dram_bytes": nan, "ncu_l2_bytes": nan, "ncu_flops": nan, "versions": _json(versions),
        "device_forced": "",
    }
    assert set(row) == set(TRACE_COLUMNS)
    return row


def _impls_to_run(bench, point: Point, on_gpu: bool) -> tuple[list[str], list[str]]:
    """(impls, notes): the suite's selection of the bench's impls, minus GPU-only ones on a CPU; on a CPU
    the torch reference is timed when "ours" cannot run there."""
    offered = list(bench.impls)
    wanted = list(point.impls) or offered
    notes, run = [], []
    for impl in wanted:
        if impl == REFERENCE_IMPL:
            run.append(impl)
        elif impl not in bench.impls:
            notes.append(f"{point.kernel}: no impl {impl!r} (has {', '.join(offered)})")
        elif not on_gpu and impl in bench.gpu_only:
            notes.append(f"{point.kernel}: {impl} is GPU-only; skipped on the CPU")
        else:
            run.append(impl)
    if not on_gpu and "ours" in bench.gpu_only and REFERENCE_IMPL not in run:
        run.append(REFERENCE_IMPL)
    return run, notes


def run_point(point: Point, entry, dev, meter, run_id: str, target_s: float | None,
              on_row: Callable[[dict], None], warn: Callable[[str], None]) -> None:
    """Prepare one point; check every impl against the reference; time the ones that pass the same way
    (``timers.time_point``: one method for ours and the peers); meter each one's energy; emit a row each."""

    on_gpu = dev.torch_device == "cuda"
    bench = entry.prepare(dict(point.shape), point.dtype, dev.torch_device)
    impls, notes = _impls_to_run(bench, point, on_gpu)
    for n in notes:
        warn(n)
    label = f"{point.kernel} {_json(point.shape)} {point.dtype}"
    ref = None
    passed: dict[str, tuple[Callable[[], Any], float]] = {}
    for impl in impls:
        fn = bench.reference if impl == REFERENCE_IMPL else bench.impls[impl]
        err = math.nan
        try:
            if impl == REFERENCE_IMPL:
                ref = bench.reference() if ref is None else ref
                check_output(f"{label} {impl}", ref, ref, 0.0)  # refuses a zero reference
                err = 0.0
            elif impl in bench.checked:
                ref = bench.reference() if ref is None else ref
                err = check_output(f"{label} {impl}", fn(), ref, bench.rtol)
            elif ref is not None:
                try:
                    err = max_rel_error(fn(), ref)  # informative only: peers may compute something else
                except Exception:
                    err = math.nan
        except KernelWrongError as e:
            warn(str(e))
            continue
        passed[impl] = (fn, err)
    if not passed:
        return
    timings = time_point({k: fn for k, (fn, _) in passed.items()}, dev.torch_device, target_s)
    for impl, (fn, err) in passed.items():
        timing = timings[impl]
        noisy = spread_warning(f"{label} {impl}", timing) if not on_gpu else None
        if noisy:
            warn(noisy)
        ops = bench.ops if impl == REFERENCE_IMPL else bench.ops_for(impl)
        flops, nbytes = total_flops(ops), total_bytes(ops)
        energy = None
        if meter is not None:
            try:
                energy = meter.measure(fn, sync_for(dev.torch_device), timing.median_s, flops, nbytes, point.dtype)
            except MeterError as e:
                warn(f"{label} {impl}: energy not measured ({e})")
        on_row(make_row(run_id, dev, point, impl, timing, flops, nbytes, err, energy, dev.versions))
    del bench


def run_profile(cfg: ProfileConfig, on_progress: Callable[[int, int, str], None] | None = None,
                on_warning: Callable[[str], None] | None = None) -> ProfileResult:
    """Run a suite and write traces/<run-id>/. Raises (before writing anything) on bad input."""

    warnings: list[str] = []

    def warn(msg: str) -> None:
        if msg in warnings:  # the same skip for every shape of a kernel is said once
            return
        warnings.append(msg)
        if on_warning:
            on_warning(msg)

    # --- everything checkable before the first kernel runs ---
    check_config(cfg)
    suite = load_suite(cfg.suite)
    dev = query_local(cfg.device, use_gpu=cfg.use_gpu)
    forced = device_claim(dev, cfg.device, cfg.force_device)
    on_gpu = dev.torch_device == "cuda"
    registry = load_all()
    points, plan_warnings = plan(suite, registry, cfg.kernels, on_gpu)
    if not points:  # one line: the plan's own warnings become the reason
        why = "; ".join(plan_warnings) or "no registered kernel matched"
        raise InputError(f"suite {suite.name!r}: nothing to run ({why})")
    if cfg.ncu_kernels:
        validate.known_names("kernel (--ncu-kernels)", cfg.ncu_kernels, sorted({p.kernel for p in points}))
    root = traces.traces_root(cfg.out)
    traces.check_writable(root)
    if cfg.ncu:
        find_ncu()

    hw = hwdb.get(dev.device_id) if dev.device_id else None
    meter = pick_meter(dev.kind, hw, cfg.energy, cfg.window_s or suite.window_s, cfg.trials or suite.trials)
    for w in plan_warnings:  # said only once the input checked out: bad input prints one line
        warn(w)
    if not dev.device_id:
        warn(f"device: {dev.match_note}")
    if forced:
        warn(f"device: --force-device labels this host ({forced}) as {dev.device_id}; rows marked forced")
    busy = busy_warning() if not on_gpu else None  # CPU timings share the cores with whatever else runs
    if busy:
        warn(busy)

    manifest = traces.base_manifest(traces.new_run_id(f"{dev.device_id or 'host'}-{suite.name}"), dev.device_id,
                                    dev.device_name, cfg.command, suite.name, dev.versions, dev.driver)
    manifest["device_match"] = dev.match_note
    manifest["device_forced"] = forced
    manifest["device_properties"] = dict(dev.properties)
    manifest["energy_method"] = meter.method if meter else "none"
    writer = traces.RunWriter(root, manifest)  # the run folder, created exclusively: the run id is now ours
    run_id = writer.run_id

    def on_row(row: dict) -> None:
        writer.append({**row, "device_forced": forced})

    interrupted, stopped_by = False, 0
    try:
        with _signals_stop_the_run():
            try:
                if meter is not None:
                    idle = meter.idle_power_w(state="before the suite, device idle")
                    writer.manifest.update(idle_power_w=None if math.isnan(idle) else idle,
                                           idle_state=meter.idle_state)
                for i, p in enumerate(points):
                    if on_progress:
                        on_progress(i, len(points), f"{p.kernel} {p.dtype} {_json(p.shape)}")
                    try:
                        run_point(p, registry[p.kernel], dev, meter, run_id, cfg.target_s or suite.target_s,
                                  on_row, warn)
                    except (traces.TraceError, KeyboardInterrupt):
                        raise
                    except Exception as e:  # one failing point must not lose the rest of the sweep
                        warn(f"{p.kernel} {_json(p.shape)} {p.dtype}: failed ({type(e).__name__}: {str(e)[:200]})")
                    finally:
                        _free_gpu(on_gpu)
                if on_progress:
                    on_progress(len(points), len(points), "done")
                if cfg.ncu and writer.rows:
                    profile_rows(writer.rows, cfg.ncu_kernels, dev.torch_device, warn)
                for w in warnings:
                    writer.note(w)
                path = writer.finish(complete=True)
            except KeyboardInterrupt as e:
                interrupted = True
                stopped_by = getattr(e, "signum", signal.SIGINT)
                how = "Ctrl-C" if stopped_by == signal.SIGINT else signal.Signals(stopped_by).name
                for w in warnings:
                    writer.note(w)
                path = writer.finish(complete=False,
                                     reason=f"interrupted ({how}) after {len(writer.rows)} completed rows")
    except BaseException:
        if not writer.rows:
            writer.discard()  # nothing was measured: no empty run folder is left behind
        raise
    finally:
        if meter is not None:
            meter.close()
    rows = traces.normalize(pd.DataFrame(writer.rows)) if writer.rows else traces.empty_frame()
    return ProfileResult(run_id, path, rows, warnings, interrupted, dev.device_id, dev.device_name,
                         meter.method if meter else "none", int(stopped_by))


def _free_gpu(on_gpu: bool) -> None:
    if on_gpu:
        import torch  # lazy: only a GPU run frees device memory

        torch.cuda.empty_cache()
