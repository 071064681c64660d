"""Reports a buyer can act on: nothing clipped or spilling out of its box in the PDF (matplotlib's renderer
extents), words not split mid-identifier, the dtype the roofline actually plots, one op-kind palette in every
section and format, human source labels, one IPW unit, SLO misses marked, no TPOT for prefill, and the verdict
and sensitivity sections. The rendered pages are kept as test artifacts (out/test-artifacts/report-pages/)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib
import pytest

from reports import html as rhtml
from reports import pdf as rpdf
from reports import tables
from reports.content import gather
from reports.pdf_layout import col_widths, wrap
from reports.spec import load_spec, shipped_specs
from reports.tables import Table
from roofline.views.palette import OP_KIND_COLOURS

SPECS = {p.name: p for p in shipped_specs()}
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "report-pages"


@pytest.fixture(scope="module")
def data():
    return {name: gather(load_spec(p), "pdf") for name, p in SPECS.items()}


@pytest.fixture(scope="module")
def docs(data):
    with matplotlib.rc_context(rpdf.RC):
        return {name: rpdf.layout_pdf(d) for name, d in data.items()}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_no_text_leaves_its_box(docs, name):
    """Every table cell, paragraph, heading, footer and chart (tick labels, legends, point labels included)
    stays inside its box as the PDF renderer measures it."""
    doc = docs[name]
    assert doc.boxes and len(doc.pages) >= 5
    assert doc.overflows() == []
    charts = [b for b in doc.boxes if isinstance(b[1], list)]
    assert len(charts) >= 4
    # charts side by side never overlap (Pareto beside IPW)
    from matplotlib.transforms import Bbox

    r = doc.renderer()
    by_page: dict[int, list] = {}
    for i, axes, _box in charts:
        inv = doc.pages[i].transFigure.inverted()
        by_page.setdefault(i, []).append(Bbox.union([a.get_tightbbox(r) for a in axes]).transformed(inv))
    for boxes in by_page.values():
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                assert not boxes[a].overlaps(boxes[b])


def test_identifiers_are_not_split_mid_word():
    t = Table(title="", headers=("kernel", "impl", "a", "b", "c", "d", "e", "f"), kinds=("",) * 8,
              rows=(("decode_attention", "sdpa-efficient", "x", "y", "z", "w", "v", "u"),),
              widths=(0.3, 0.3, 2, 2, 2, 2, 2, 2))
    widths = col_widths(t, 7.5, 0.04)
    assert wrap("decode_attention", widths[0] - 0.08, 7.5) == ["decode_attention"]
    assert wrap("sdpa-efficient", widths[1] - 0.08, 7.5) == ["sdpa-efficient"]
    # a word wider than any column breaks after its punctuation, never inside a piece
    url = "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/h100/nvidia-h100-datasheet.pdf"
    lines = wrap(url, 1.2, 6.5)
    assert "".join(lines) == url and all(re.search(r"[/\-._]$", ln) for ln in lines[:-1])


def test_pages_render_and_are_kept(tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm missing (poppler-utils): run scripts/install_report_tools.sh")
    from reports.build import build_report

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, p in SPECS.items():
        pdf = tmp_path / f"{Path(name).stem}.pdf"
        pdf.write_bytes(build_report(load_spec(p), "pdf"))
        for f in ARTIFACTS.glob(f"{Path(name).stem}-*.png"):
            f.unlink()
        subprocess.run([pdftoppm, "-r", "60", "-png", str(pdf), str(ARTIFACTS / Path(name).stem)], check=True,
                       timeout=120)
        pages = sorted(ARTIFACTS.glob(f"{Path(name).stem}-*.png"))
        assert len(pages) >= 5 and all(q.stat().st_size > 5_000 for q in pages)


# ------------------------------------------------------------------------------------------ content


def test_roofline_title_says_the_dtype_plotted(data):
    edge = data["edge-8b.toml"].workloads[0]
    title = tables.roof_title(edge)
    assert "fp32 on apple-m3-max, apple-m4-max" in title and title != "Roofline at bf16"
    serve = data["serve-llama-70b-4bit.toml"].workloads[0]
    assert tables.roof_title(serve) == f"Roofline at {serve.compute_dtype}"  # every roof at that dtype


def test_op_kind_colours_are_one_palette_in_every_section(data):
    for d in data.values():
        for wr in d.workloads:
            if wr.breakdown.empty:
                continue
            for metric in ("time", "energy"):
                fig = rhtml.breakdown_figure(wr, metric)
                for t in fig.data:
                    assert t.marker.color == OP_KIND_COLOURS[t.name], (wr.workload.name, t.name)
            # the PDF's bars: the same colours
            import matplotlib.pyplot as plt

            fig = plt.figure()
            try:
                rpdf.draw_breakdown(wr)(fig, [0.1, 0.1, 0.8, 0.8])
                for ax in fig.axes:
                    for cont in ax.containers:
                        kind = cont.get_label()
                        got = matplotlib.colors.to_hex(cont.patches[0].get_facecolor()).upper()
                        assert got == OP_KIND_COLOURS[kind].upper(), kind
            finally:
                plt.close(fig)


def test_tables_read_right(data):
    serve = data["serve-llama-70b-4bit.toml"]
    chat, summ = serve.workloads
    rt = tables.ranking_table(serve, chat)
    assert "TPOT" in rt.headers and "IPW (/W)" in rt.headers and not any("kW" in h for h in rt.headers)
    st = tables.ranking_table(serve, summ)  # prefill only: no decode step, no TPOT
    assert "TPOT" not in st.headers
    misses = [r for r in st.rows if r[st.headers.index("SLO")] == "misses"]
    assert misses and all(r[-1].startswith("misses the SLO: TTFT") for r in misses)
    top = tables.summary_table(serve)
    tpot = top.headers.index("TPOT")
    assert all(r[tpot] == "n/a (prefill)" for r in top.rows if r[0] == summ.workload.name)
    ipw = top.headers.index("IPW (/W)")
    assert all(r[ipw] == "-" or float(r[ipw]) < 0.1 for r in top.rows)  # per W, not per kW
    time_t, energy_t = tables.breakdown_tables(chat)
    assert re.fullmatch(r"[\d.]+ (m|u)?s \(\d+%\)", time_t.rows[0][3]) and energy_t.headers[2] == "total"


def test_sources_use_human_labels(data):
    for d in data.values():
        used = " ".join(d.sources["used_for"])
        assert "bw_bytes_per_s" not in used and "tdp_w" not in used and "peak:" not in used
        assert "memory bandwidth" in used and ("bf16 peak" in used or "fp16 peak" in used)


def test_verdict_and_sensitivity(data):
    chat = data["serve-llama-70b-4bit.toml"].workloads[0]
    v = chat.verdict
    assert v.pick == str(chat.top["device_id"]) and len(v.reasons) == 2 and v.runner_up and v.runner_up_when
    assert v.recommendation.startswith("Buy ")
    vt = tables.verdict_table(chat)
    labels = [r[0] for r in vt.rows]
    assert labels[:4] == ["recommendation", "reason 1", "reason 2", "runner-up"] and "it would win" in labels
    s = tables.sensitivity_table(chat)
    assert {r[0] for r in s.rows} == {"price", "utilization", "SLO"}
    assert any(r[1] == "every price +30%" for r in s.rows) and any(r[1].startswith("busy 50%") for r in s.rows)
    assert any(r[1].startswith("TPOT SLO x0.5") for r in s.rows)
    summ = data["serve-llama-70b-4bit.toml"].workloads[1]
    assert not any("TPOT" in r[1] for r in tables.sensitivity_table(summ).rows)  # prefill only


def test_html_has_the_verdict_and_one_tick_format(data, tmp_path):
    serve = data["serve-llama-70b-4bit.toml"]
    page = rhtml.render_html(serve)
    assert '<h2 id="verdict">Verdict</h2>' in page and 'id="sensitivity-w1"' in page
    assert "per kW" not in page and "IPW (/W)" in page
    assert '"exponentformat":"power"' not in page.replace(" ", "")
    assert "decode_attention" in page
    chat = serve.workloads[0]
    for fig in (rhtml.pareto_figure(serve, chat, rhtml.colors_for(serve.spec.devices)),
                rhtml.roofline_figure(chat.roofs, chat.points, rhtml.colors_for(serve.spec.devices), "t")):
        for ax in (fig.layout.xaxis, fig.layout.yaxis):
            assert ax.tickmode == "array" and not any(re.search(r"e[+-]\d|\^", t) for t in ax.ticktext)
