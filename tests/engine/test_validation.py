"""The validation set: published, measured serving figures, each with its source and its mapping onto a
prediction; a point without a stated batch is refused."""

import collections

import pytest

from roofline.engine.validation import VALIDATION_FILE, load_documents, load_points, parse_points
from roofline.errors import DataFileError


def test_the_shipped_set_is_large_and_diverse_enough():
    pts = load_points()
    assert len(pts) >= 40
    assert len({p.device_id for p in pts}) >= 5 and len({p.runtime for p in pts}) >= 3
    docs = load_documents()
    for p in pts:
        assert p.document in docs and docs[p.document]["url"].startswith("https://"), p.id
        assert p.locator and p.scenario.batch >= 1 and p.value > 0, p.id
        for k in ("device", "model", "metric", "value", "batch", "input_tokens", "output_tokens", "tp"):
            assert k in p.source, (p.id, k)  # every transcribed field is kept
    assert collections.Counter(p.runtime for p in pts)["trtllm"] >= 20


def test_dropped_points_say_why():
    import tomllib

    with open(VALIDATION_FILE, "rb") as f:
        raw = tomllib.load(f)
    reasons = collections.Counter(d["reason"].split(" (")[0].split(" '")[0] for d in raw["dropped"])
    assert len(raw["point"]) + len(raw["dropped"]) == 264
    assert reasons["no stated batch or concurrency"] == 115


def _raw(batch):
    return {"document": [{"key": "d", "url": "https://example.org", "runtime": "vllm", "date": "2026-01-01"}],
            "point": [{"id": "d/1", "document": "d", "locator": "table 1", "map": {
                "model_id": "llama-3.1-8b", "device_id": "h100-sxm", "quantity": "tpot_s", "value_si": 0.01,
                "phase": "generate", "batch": batch, "prompt_tokens": 128, "gen_tokens": 128}}]}


@pytest.mark.parametrize("batch", [0, None, -1])
def test_a_point_without_a_stated_batch_is_refused(batch):
    raw = _raw(batch)
    if batch is None:
        del raw["point"][0]["map"]["batch"]
    with pytest.raises(DataFileError, match=r"point\[0\] \(d/1\): batch: no stated batch"):
        parse_points(raw)


def test_a_good_point_predicts_and_compares():
    (p,) = parse_points(_raw(8))
    pred = p.predicted("ideal")
    assert pred > 0 and p.error(pred) == pytest.approx(0.01 / pred - 1)
    assert p.log_time_residual(pred) > 0 if pred < 0.01 else p.log_time_residual(pred) <= 0
