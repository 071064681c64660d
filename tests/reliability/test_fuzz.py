"""Fuzzing the parsers (hypothesis): whatever bytes or documents come in, each parser returns a valid result
or raises its one project error (a RooflineError, printed as one line) - never another exception."""

from __future__ import annotations

import io
import json
import math
import tomllib

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwdb.loader import DEVICES_DIR, load_dir, parse_device
from hwdb.schema import HwdbError
from roofline.errors import RooflineError
from roofline.measure import kineto, ncu, traces
from roofline.measure.profile import load_suite, parse_suite
from roofline.measure.trace_schema import TRACE_COLUMNS
from roofline.views.measured import read_upload
from tests.reliability.test_bad_files import GOOD_NCU, GOOD_TRACE, KERNEL

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def mutate(text: str, data) -> bytes:
    """A real-shaped document cut, spliced and overwritten at random places."""
    b = bytearray(text.encode())
    for _ in range(data.draw(st.integers(0, 4))):
        op = data.draw(st.sampled_from(["cut", "byte", "insert", "dup"]))
        i = data.draw(st.integers(0, max(len(b) - 1, 0)))
        if op == "cut":
            b = b[:i]
        elif op == "byte" and b:
            b[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            b[i:i] = data.draw(st.binary(max_size=16))
        else:
            b[i:i] = b[max(0, i - 40):i]
    return bytes(b)


# ------------------------------------------------------------------------------------------- ncu CSV
@FUZZ
@given(st.data())
def test_fuzz_ncu_csv(data):
    raw = mutate(GOOD_NCU, data) if data.draw(st.booleans()) else data.draw(st.binary(max_size=400))
    try:
        df = ncu.read_ncu_csv(raw)
    except ncu.NcuError:
        return
    assert list(df.columns) == ncu.NCU_COLUMNS and len(df) >= 1
    v = df[["duration_s", "ncu_dram_bytes", "ncu_l2_bytes", "ncu_flops"]].to_numpy(float)
    assert not np.isinf(v).any() and not (v < 0).any()
    ncu.summarize_ncu(df)


# ------------------------------------------------------------------------------------------- Kineto JSON
def _event(data) -> dict:
    e = dict(KERNEL) if data.draw(st.booleans()) else {}
    for _ in range(data.draw(st.integers(0, 3))):
        key = data.draw(st.sampled_from(["ph", "cat", "name", "ts", "dur", "args", "pid", "tid"]))
        e[key] = data.draw(json_values | st.sampled_from(["X", "kernel", "cpu_op", "cuda_runtime"]))
    return e


@FUZZ
@given(st.data())
def test_fuzz_kineto_json(data):
    if data.draw(st.booleans()):
        raw = json.dumps({"traceEvents": [_event(data) for _ in range(data.draw(st.integers(0, 6)))]}).encode()
    elif data.draw(st.booleans()):
        raw = mutate(GOOD_TRACE, data)
    else:
        raw = json.dumps(data.draw(json_values)).encode()
    try:
        df = kineto.read_kineto(raw)
    except kineto.KinetoError:
        return
    assert list(df.columns) == kineto.KINETO_COLUMNS and len(df) >= 1
    assert np.isfinite(df["dur_s"].to_numpy(float)).all() and (df["dur_s"] >= 0).all()
    kineto.summarize_kineto(df)
    kineto.by_kind(df)


# ------------------------------------------------------------------------------------------- suite TOML
suite_values = json_values | st.sampled_from(["bench", "quick", "copy", "fp32"])


@FUZZ
@given(st.data())
def test_fuzz_suite(data):
    kernels = data.draw(st.lists(st.dictionaries(st.sampled_from(["name", "shapes", "dtypes", "impls", "x"]),
                                                 suite_values, max_size=4), max_size=3))
    raw = {"kernels": kernels}
    for key in data.draw(st.lists(st.sampled_from(["name", "description", "timing", "energy", "extra"]), max_size=3)):
        raw[key] = data.draw(suite_values | st.dictionaries(st.sampled_from(["window_s", "trials", "target_s"]),
                                                            suite_values, max_size=2))
    try:
        s = parse_suite(raw, "fuzz.toml")
    except RooflineError:
        return
    assert s.entries and all(isinstance(e.kernel, str) and e.kernel for e in s.entries)
    assert math.isfinite(s.window_s) and s.window_s > 0 and isinstance(s.trials, int) and s.trials >= 1


@FUZZ
@given(text=st.text(max_size=200))
def test_fuzz_suite_text(text, tmp_path_factory):
    p = tmp_path_factory.mktemp("suite") / "s.toml"
    p.write_text(text)
    try:
        load_suite(str(p))
    except RooflineError:
        pass


# ------------------------------------------------------------------------------------------- device TOML
GOOD_DEVICE = tomllib.loads((DEVICES_DIR / "t4.toml").read_text())


def _paths(d: dict, prefix=()) -> list[tuple]:
    out = []
    for k, v in d.items():
        out.append((*prefix, k))
        if isinstance(v, dict):
            out += _paths(v, (*prefix, k))
    return out


@FUZZ
@given(st.data())
def test_fuzz_device_toml(data):
    raw = json.loads(json.dumps(GOOD_DEVICE))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(raw) or [("id",)]))
        node = raw
        for k in path[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict):
            if data.draw(st.booleans()):
                node[path[-1]] = data.draw(json_values)
            else:
                node.pop(path[-1], None)
    try:
        dev = parse_device(DEVICES_DIR / "fuzz.toml", raw)
    except HwdbError:
        return
    assert dev.memory_bytes > 0 and dev.mem_bw_bytes_per_s > 0 and all(v > 0 for v in dev.peak_ops_per_s.values())


@FUZZ
@given(raw=st.binary(max_size=300))
def test_fuzz_device_bytes(raw, tmp_path_factory):
    d = tmp_path_factory.mktemp("hwdb")
    (d / "x.toml").write_bytes(raw)
    try:
        load_dir(d, measured_dir=None)
    except HwdbError:
        pass


# ------------------------------------------------------------------------------------------- trace Parquet
cells = (st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 10**6)
         | st.text(max_size=8) | st.sampled_from(["{}", '{"m": 1}', "[1]", "nan"]))


@FUZZ
@given(st.data())
def test_fuzz_trace_parquet(data):
    cols = data.draw(st.lists(st.sampled_from(list(TRACE_COLUMNS) + ["extra"]), min_size=1, max_size=8, unique=True))
    n = data.draw(st.integers(0, 4))
    frame = {c: [data.draw(cells) for _ in range(n)] for c in cols}
    try:
        df = pd.DataFrame(frame)
        buf = io.BytesIO()
        df.astype(object).astype(str).where(df.notna(), None).to_parquet(buf, index=False) if data.draw(
            st.booleans()) else df.to_parquet(buf, index=False)
    except Exception:  # a frame pyarrow cannot store is not a file anyone can upload
        return
    raw = buf.getvalue()
    if data.draw(st.booleans()):
        raw = mutate(raw.decode("latin-1"), data)
    try:
        out = traces.read_trace_bytes(raw, "fuzz.parquet")
    except traces.TraceError:
        return
    med = out["median_s"].to_numpy(float)
    assert np.isfinite(med).all() and (med >= 0).all()
    assert list(out.columns)[: len(TRACE_COLUMNS)] == list(TRACE_COLUMNS)


@pytest.mark.parametrize("name", ["x.csv", "x.parquet", "x.json"])
@FUZZ
@given(raw=st.binary(min_size=1, max_size=300))
def test_fuzz_upload_bytes(name, raw):
    """Any bytes uploaded to the dashboard: trace rows, or one RooflineError (the page shows its line)."""
    try:
        read_upload(name, raw, "h100-sxm", "NVIDIA H100 80GB HBM3")
    except RooflineError:
        pass
