"""The model catalog: every issue model present, configs cited, parameter counts match the publishers'."""

import dataclasses

import pytest

from roofline.engine.catalog import Accuracy, ModelSpec, get_model, load_models, parse_model
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


# Hand derivations from each config.json (attention a layer = h*(H*d + 2*Hkv*d) + H*d*h; gated MLP = 3*h*I a
# expert (+ router h*E); 2 RMSNorms a layer (2h); embeddings V*h, twice when untied; final norm h).
# KV bytes a token at bf16 = layers * Hkv * d * 2 (K, V) * 2 bytes.
@pytest.mark.parametrize("mid,total,active,kv_per_token", [
    # Llama-3.1-8B: attn 4096*(4096+2*1024) + 4096*4096 = 41,943,040; MLP 3*4096*14336 = 176,160,768;
    # a layer + 8192 norms = 218,112,000; x32 = 6,979,584,000; embeddings 2*128256*4096 = 1,050,673,152;
    # + 4096 -> 8,030,261,248. KV 32*8*128*2*2 = 131,072
    ("llama-3.1-8b", 8_030_261_248, 8_030_261_248, 131_072),
    # Llama-3.1-70B: attn 8192*(8192+2048) + 8192*8192 = 150,994,944; MLP 3*8192*28672 = 704,643,072;
    # a layer + 16384 = 855,654,400; x80 = 68,452,352,000; embeddings 2*128256*8192 = 2,101,346,304; + 8192
    # -> 70,553,706,496. KV 80*8*128*2*2 = 327,680
    ("llama-3.1-70b", 70_553_706_496, 70_553_706_496, 327_680),
    # Mixtral-8x7B: attn 41,943,040 (as Llama-8B); expert 176,160,768; router 4096*8 = 32,768
    # total a layer 41,943,040 + 8*176,160,768 + 32,768 + 8192 = 1,451,270,144; x32 = 46,440,644,608
    # + embeddings 2*32000*4096 = 262,144,000 + 4096 -> 46,702,792,704 (published 46.7B)
    # active: 41,943,040 + 2*176,160,768 + 32,768 + 8192 = 394,305,536; x32 = 12,617,777,152 + 262,148,096
    # -> 12,879,925,248 (published 12.9B). KV 32*8*128*2*2 = 131,072
    ("mixtral-8x7b", 46_702_792_704, 12_879_925_248, 131_072),
    # Qwen3-30B-A3B: attn 2048*(4096+2*512) + 4096*2048 = 18,874,368; expert 3*2048*768 = 4,718,592;
    # router 2048*128 = 262,144; total a layer 18,874,368 + 128*4,718,592 + 262,144 + 4096 = 623,120,384;
    # x48 = 29,909,778,432 + embeddings 2*151936*2048 = 622,329,856 + 2048 -> 30,532,110,336 (published 30.5B)
    # active: 18,874,368 + 8*4,718,592 + 262,144 + 4096 = 56,889,344; x48 = 2,730,688,512 + 622,331,904
    # -> 3,353,020,416 (published 3.3B). KV 48*4*128*2*2 = 98,304
    ("qwen3-30b-a3b", 30_532_110_336, 3_353_020_416, 98_304),
    # Gemma-2-9B (head_dim 256, 16 x 256 = 4096 != 3584): attn 3584*(4096+2*2048) + 4096*3584 = 44,040,192;
    # MLP 3*3584*14336 = 154,140,672; + 7168 -> 198,188,032; x42 = 8,323,897,344; tied embeddings 256000*3584
    # = 917,504,000; + 3584 -> 9,241,404,928 (published 9.24B). KV 42*8*256*2*2 = 344,064
    ("gemma-2-9b", 9_241_404_928, 9_241_404_928, 344_064),
    # Phi-3-mini (MHA 32/32, d 96): attn 4*3072*3072 = 37,748,736; MLP 3*3072*8192 = 75,497,472; + 6144
    # -> 113,252,352; x32 = 3,624,075,264; embeddings 2*32064*3072 = 197,001,216; + 3072 -> 3,821,079,552
    # (published 3.8B). KV 32*32*96*2*2 = 393,216
    ("phi-3-mini", 3_821_079_552, 3_821_079_552, 393_216),
    # BitNet b1.58 2B4T (GQA 20/5, d 128): attn 2560*(2560+2*640) + 2560*2560 = 16,384,000; MLP 3*2560*6912
    # = 53,084,160; + 5120 -> 69,473,280; x30 = 2,084,198,400 ("2B" = the non-embedding count); tied
    # embeddings 128256*2560 = 328,335,360; + 2560 -> 2,412,536,320. KV 30*5*128*2*2 = 76,800
    ("bitnet-b1.58-2b", 2_412_536_320, 2_412_536_320, 76_800),
    # Llama-2-70B: attn and MLP as Llama-3.1-70B (855,654,400 a layer, x80 = 68,452,352,000); embeddings
    # 2*32000*8192 = 524,288,000; + 8192 -> 68,976,648,192 (published 69B). KV 80*8*128*2*2 = 327,680
    ("llama-2-70b", 68_976_648_192, 68_976_648_192, 327_680),
    # Llama-2-13B (MHA 40/40): attn 4*5120*5120 = 104,857,600; MLP 3*5120*13824 = 212,336,640; + 10240
    # -> 317,204,480; x40 = 12,688,179,200; embeddings 2*32000*5120 = 327,680,000; + 5120 -> 13,015,864,320
    # (published 13.0B). KV 40*40*128*2*2 = 819,200
    ("llama-2-13b", 13_015_864_320, 13_015_864_320, 819_200),
    # Mixtral-8x22B: attn 6144*(6144+2*1024) + 6144*6144 = 88,080,384; expert 3*6144*16384 = 301,989,888;
    # router 6144*8 = 49,152; a layer 88,080,384 + 8*301,989,888 + 49,152 + 12,288 = 2,504,060,928; x56 =
    # 140,227,411,968 + embeddings 2*32768*6144 = 402,653,184 + 6144 -> 140,630,071,296 (published 141B);
    # active: 88,080,384 + 2*301,989,888 + 61,440 = 692,121,600; x56 = 38,758,809,600 + 402,659,328
    # -> 39,161,468,928 (published 39B). KV 56*8*128*2*2 = 229,376
    ("mixtral-8x22b", 140_630_071_296, 39_161_468_928, 229_376),
])
def test_parameter_counts_and_kv_bytes_by_hand(mid, total, active, kv_per_token):
    from roofline.engine import transformer as tf
    from roofline.engine.scenario import Scenario

    m = get_model(mid)
    assert m.params == total and m.active_params == active
    assert tf.kv_cache_bytes(m, Scenario(), 1, 1) == kv_per_token


def test_catalog_fields_match_config_json():
    # transcribed from each model's HuggingFace config.json (layers, hidden, heads, kv heads, head_dim,
    # intermediate, vocab, tied); a wrong field here silently skews every number downstream
    expect = {
        "llama-3.1-8b": (32, 4096, 32, 8, 128, 14336, 128256, False),
        "llama-3.1-70b": (80, 8192, 64, 8, 128, 28672, 128256, False),
        "llama-3.1-405b": (126, 16384, 128, 8, 128, 53248, 128256, False),
        "llama-2-7b": (32, 4096, 32, 32, 128, 11008, 32000, False),
        "llama-3.2-1b": (16, 2048, 32, 8, 64, 8192, 128256, True),
        "llama-3.2-3b": (28, 3072, 24, 8, 128, 8192, 128256, True),
        "mistral-7b": (32, 4096, 32, 8, 128, 14336, 32000, False),
        "mixtral-8x7b": (32, 4096, 32, 8, 128, 14336, 32000, False),
        "qwen2.5-7b": (28, 3584, 28, 4, 128, 18944, 152064, False),
        "qwen2.5-32b": (64, 5120, 40, 8, 128, 27648, 152064, False),
        "qwen2.5-72b": (80, 8192, 64, 8, 128, 29568, 152064, False),
        "qwen3-30b-a3b": (48, 2048, 32, 4, 128, 6144, 151936, False),
        "gemma-2-9b": (42, 3584, 16, 8, 256, 14336, 256000, True),
        "gemma-2-27b": (46, 4608, 32, 16, 128, 36864, 256000, True),
        "phi-3-mini": (32, 3072, 32, 32, 96, 8192, 32064, False),
        "bitnet-b1.58-2b": (30, 2560, 20, 5, 128, 6912, 128256, True),
        "llama-2-70b": (80, 8192, 64, 8, 128, 28672, 32000, False),
        "llama-2-13b": (40, 5120, 40, 40, 128, 13824, 32000, False),
        "mixtral-8x22b": (56, 6144, 48, 8, 128, 16384, 32768, False),
    }
    for mid, fields in expect.items():
        m = get_model(mid)
        got = (m.layers, m.hidden, m.heads, m.kv_heads, m.head_dim, m.intermediate, m.vocab, m.tied_embeddings)
        assert got == fields, mid
