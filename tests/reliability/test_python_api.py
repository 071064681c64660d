"""The pure functions refuse bad values when called from Python too (InputError and its kin), not only the
CLI: the same validation layer (roofline/validate.py) sits under both."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from roofline import validate
from roofline.errors import InputError, RooflineError, UnknownNameError
from roofline.measure import kineto, ncu, traces
from roofline.measure.profile import ProfileConfig, parse_suite, run_profile
from tests.reliability.conftest import trace_row


@pytest.mark.parametrize("kw, msg", [
    ({"window_s": 0.0}, "--window"), ({"window_s": math.nan}, "finite"), ({"trials": 0}, "--trials"),
    ({"target_s": -1.0}, "--target"), ({"energy": "banana"}, "--energy"), ({"kernels": []}, "no kernels"),
    ({"ncu_kernels": ["copy"]}, "needs --ncu"), ({"device": "h100-sxm"}, "--force-device"),
])
def test_run_profile_refuses_bad_config(kw, msg, tmp_path):
    with pytest.raises(RooflineError, match=msg):
        run_profile(ProfileConfig(kernels=kw.pop("kernels", ["copy"]), out=str(tmp_path / "t"), **kw))
    assert not (tmp_path / "t").exists()


def test_parsers_and_row_builders_refuse():
    with pytest.raises(InputError, match="list of strings"):
        parse_suite({"kernels": [{"name": "copy", "dtypes": "fp32"}]})
    with pytest.raises(InputError, match="fp7"):
        ncu.ncu_trace_rows(pd.DataFrame(columns=ncu.NCU_COLUMNS), "r", "", "", "fp7")
    cpu = kineto.read_kineto(b'{"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 1, "dur": 2}]}')
    with pytest.raises(InputError, match="CPU-only"):
        kineto.kineto_trace_rows(cpu, "r", "h100-sxm", "H100")
    with pytest.raises(traces.TraceError, match="negative"):
        traces.check_rows(pd.DataFrame([trace_row(median_s=-1e-5, p20_s=None, p80_s=None)]), "rows")
    with pytest.raises(traces.TraceError, match="negative"):  # nothing is written that would be refused on read
        traces.write_run("/nonexistent-root", traces.base_manifest("r", "", "", "", ""),
                         [trace_row(median_s=-1e-5, p20_s=None, p80_s=None)])


def test_validate_helpers():
    assert validate.positive("x", 3, integer=True) == 3
    for bad in (0, -1, True, 1.5, "3", math.inf):
        with pytest.raises(InputError):
            validate.positive("x", bad, integer=True)
    assert validate.fraction("f", 1.0) == 1.0 and validate.fraction("f", 0.0, zero=True, one=False) == 0.0
    with pytest.raises(InputError, match=r"in \(0, 1\]"):
        validate.fraction("f", 0.0)
    with pytest.raises(UnknownNameError, match="did you mean gpu"):
        validate.choice("--kind", "gpus", ("gpu", "cpu"))
    assert validate.name_list("--kernels", "a, b") == ["a", "b"] and validate.name_list("--kernels", None) is None
    with pytest.raises(InputError, match="lists no names"):
        validate.name_list("--kernels", ",")
    with pytest.raises(InputError, match="cannot be used together"):
        validate.exclusive(**{"--json": True, "--csv": True})
    with pytest.raises(InputError, match="unknown field"):
        validate.keys("t", {"a": 1, "b": 2}, {"a"})
