"""Bad dashboard uploads (roofline.views.measured.read_upload, what the measurements page calls): each is one
RooflineError whose message is one line (the page shows it), and nothing is written anywhere."""

from __future__ import annotations

import gzip
import json

import pytest

from roofline.errors import RooflineError
from roofline.views import measured
from tests.reliability.conftest import REPO, parquet, snapshot, trace_row
from tests.reliability.test_bad_files import GOOD_NCU, KERNEL

UPLOADS = [
    ("empty.parquet", b"", "empty"),
    ("notes.txt", b"hello", "unknown file type"),
    ("bad.parquet", b"PAR1 not really", "not a readable trace"),
    ("rows.csv", b"a,b\n1,2\n", "missing columns"),
    ("neg.parquet", parquet([trace_row(median_s=-66.1e-6, p20_s=None, p80_s=None)]), "negative"),
    ("inf.parquet", parquet([trace_row(median_s=float("inf"))]), "infinite"),
    ("shape.parquet", parquet([trace_row(shape="not json")]), "JSON object"),
    ("trunc.csv", GOOD_NCU[: len(GOOD_NCU) * 6 // 10].encode(), "truncated"),
    ("unit.csv", GOOD_NCU.replace('"ns"', '"parsec"', 1).encode(), "unknown unit"),
    ("k.json", json.dumps({"traceEvents": [{**KERNEL, "dur": None}]}).encode(), "dur"),
    ("k.json.gz", gzip.compress(b'{"traceEvents": []}')[:-6], "truncated"),
    ("deep.json", b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
]


@pytest.mark.parametrize("name, data, msg", UPLOADS, ids=[u[0] for u in UPLOADS])
def test_bad_upload_is_one_line(name, data, msg, tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFLINE_TRACES", str(tmp_path))
    before = snapshot(tmp_path, REPO / "traces")
    with pytest.raises(RooflineError) as e:
        measured.read_upload(name, data, "h100-sxm", "NVIDIA H100 80GB HBM3")
    assert "\n" not in str(e.value) and msg.lower() in str(e.value).lower(), str(e.value)
    assert snapshot(tmp_path, REPO / "traces") == before


def test_upload_past_the_size_limit(monkeypatch):
    monkeypatch.setattr(measured, "MAX_UPLOAD_BYTES", 1024)
    with pytest.raises(RooflineError, match="upload limit"):
        measured.read_upload("big.parquet", b"x" * 4096)
