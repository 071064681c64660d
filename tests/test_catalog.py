"""The model catalog: every issue model present, configs cited, parameter counts match the publishers'."""

import dataclasses

import pytest

from roofline.catalog import Accuracy, ModelSpec, get_model, load_models, parse_model
from roofline.errors import InputError, UnknownNameError

IDS = ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-2-7b", "llama-3.2-1b", "llama-3.2-3b", "mistral-7b",
       "mixtral-8x7b", "qwen2.5-7b", "qwen2.5-32b", "qwen2.5-72b", "qwen3-30b-a3b", "gemma-2-9b", "gemma-2-27b",
       "phi-3-mini", "bitnet-b1.58-2b"]


def test_every_contract_model_is_in_the_catalog():
    models = load_models()
    assert set(IDS) <= set(models)
    assert len(models) >= 15


@pytest.mark.parametrize("mid", IDS)
def test_each_model_cites_its_config_and_accuracy(mid):
    m = get_model(mid)
    assert m.source.startswith("https://huggingface.co/") and m.source.endswith("/config.json")
    assert m.head_dim > 0 and m.heads % m.kv_heads == 0
    assert m.accuracy, "every catalog model carries a published accuracy figure"
    for a in m.accuracy:
        assert isinstance(a, Accuracy) and a.benchmark and a.source.startswith("https://") and 0 < a.value_pct <= 100


# Published totals (model cards / papers), tolerance 2%: biases, and the published figure rounded (3.3B) in the published figure.
@pytest.mark.parametrize("mid,params,active", [
    ("llama-3.1-8b", 8.03e9, 8.03e9), ("llama-3.1-70b", 70.6e9, 70.6e9), ("llama-3.1-405b", 405.9e9, 405.9e9),
    ("llama-3.2-1b", 1.24e9, 1.24e9), ("llama-3.2-3b", 3.21e9, 3.21e9), ("llama-2-7b", 6.74e9, 6.74e9),
    ("mixtral-8x7b", 46.7e9, 12.9e9), ("qwen3-30b-a3b", 30.5e9, 3.3e9), ("qwen2.5-7b", 7.61e9, 7.61e9),
    ("gemma-2-9b", 9.24e9, 9.24e9), ("gemma-2-27b", 27.2e9, 27.2e9), ("phi-3-mini", 3.82e9, 3.82e9),
])
def test_parameter_counts_match_published(mid, params, active):
    m = get_model(mid)
    assert m.params == pytest.approx(params, rel=0.02)
    assert m.active_params == pytest.approx(active, rel=0.02)


def test_head_dim_is_explicit_not_hidden_over_heads():
    # LLM-Viewer #26: Gemma-2-9B has 16 x 256 = 4096 query width on a 3584 hidden; Qwen3-30B-A3B 4096 on 2048
    assert get_model("gemma-2-9b").q_dim == 4096 != get_model("gemma-2-9b").hidden
    assert get_model("qwen3-30b-a3b").q_dim == 4096 != get_model("qwen3-30b-a3b").hidden
    assert get_model("llama-3.2-1b").head_dim == 64


def test_moe_and_tied_fields():
    mx = get_model("mixtral-8x7b")
    assert (mx.experts, mx.experts_per_token, mx.mlp_width) == (8, 2, 14336)
    q3 = get_model("qwen3-30b-a3b")
    assert (q3.experts, q3.experts_per_token, q3.mlp_width) == (128, 8, 768)
    assert get_model("llama-3.2-1b").tied_embeddings and not get_model("llama-3.1-8b").tied_embeddings
    assert get_model("bitnet-b1.58-2b").native_wbits == 2


def test_unknown_model_suggests_close_ids():
    with pytest.raises(UnknownNameError, match="llama-3.1-8b"):
        get_model("llama-3.1-8")


def test_model_spec_passes_through_and_is_frozen():
    m = get_model("llama-3.1-8b")
    assert get_model(m) is m
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.layers = 1  # type: ignore[misc]
    assert isinstance(m, ModelSpec)


@pytest.mark.parametrize("patch,msg", [({"heads": 5}, "kv_heads"), ({"bogus": 1}, "unknown field"),
                                       ({"source": "config.json"}, "config URL"), ({"layers": 0}, "must be > 0")])
def test_parse_model_rejects_bad_files(tmp_path, patch, msg):
    raw = {"id": "x", "name": "X", "family": "x", "layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2, "head_dim": 16,
           "intermediate": 96, "vocab": 100, "source": "https://example.org/config.json"}
    raw.update(patch)
    with pytest.raises(InputError, match=msg):
        parse_model(tmp_path / "x.toml", raw)
