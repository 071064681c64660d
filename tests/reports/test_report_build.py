"""Reports: both formats build for the shipped specs, read as intended, and are byte-for-byte reproducible."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports.build import build_report, write_reports
from reports.spec import load_spec, shipped_specs

SPECS = {p.name: p for p in shipped_specs()}
PDFTOPPM = shutil.which("pdftoppm")
NEED_PDFTOPPM = pytest.mark.skipif(PDFTOPPM is None, reason="pdftoppm missing (poppler-utils): run "
                                                             "scripts/install_report_tools.sh")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Each shipped spec built once in both formats through the public writer."""
    out = tmp_path_factory.mktemp("reports")
    res = {}
    for name, p in SPECS.items():
        paths = write_reports(p, "both", out)
        res[name] = {q.suffix[1:]: q for q in paths}
    return res


class _Doc(HTMLParser):
    """Collects tables (id -> rows of cell text), headings, scripts and plot divs; fails on unclosed tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.table_id: str | None = None
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.h: list[str] = []
        self.text: list[str] = []
        self.scripts = 0
        self.div_ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in ("meta", "br", "link", "img", "input"):
            self.stack.append(tag)
        if tag == "table":
            self.table_id = a.get("id") or f"t{len(self.tables)}"
            self.tables[self.table_id] = []
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "script":
            self.scripts += 1
        elif tag == "div" and a.get("id"):
            self.div_ids.append(a["id"])

    def handle_endtag(self, tag):
        if tag in ("meta", "br", "link", "img", "input"):
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()
        if tag in ("td", "th") and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.table_id:
            self.tables[self.table_id].append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        if self.stack and self.stack[-1] in ("h1", "h2", "h3"):
            self.h.append(data.strip())
        if not self.stack or self.stack[-1] != "script":
            self.text.append(data)


def parse_html(path: Path) -> _Doc:
    d = _Doc()
    d.feed(path.read_text(encoding="utf-8"))
    d.close()
    assert d.stack == [], f"unclosed tags: {d.stack}"
    return d


@pytest.mark.parametrize("name", sorted(SPECS))
def test_html_parses_and_holds_the_ranking(built, name):
    spec = load_spec(SPECS[name])
    doc = parse_html(built[name]["html"])
    assert spec.title in doc.h
    for section in ("Summary", "Candidate hardware", "Measured vs modeled", "Assumptions", "Sources", "Reproduce"):
        assert section in doc.h, section
    text = " ".join(doc.text)
    if spec.trace_runs:  # the 70B spec includes the committed H100 anchor run
        assert "No measured runs included" not in text and all(r in text for r in spec.trace_runs)
    else:
        assert "No measured runs included" in text
    assert f"roofline report reports/specs/{name} --format html --out OUT" in text
    # plotly.js inlined once (self-contained: no external script), figures with fixed ids
    html = built[name]["html"].read_text(encoding="utf-8")
    assert 'src="http' not in html and html.count("plotly.js v") >= 1
    assert doc.div_ids and all(re.fullmatch(r"fig-\d+", i) for i in doc.div_ids if i.startswith("fig"))
    assert len(doc.div_ids) >= 4 * len(spec.workloads)
    # one ranking table per workload: every candidate device, ranks 1.. in order, each number labelled
    for i, w in enumerate(spec.workloads, 1):
        rows = doc.tables[f"ranking-w{i}"]
        head, body = rows[0], rows[1:]
        assert head[0] == "rank" and "tokens/s modeled" in head
        import hwdb

        names = {hwdb.get(d).name for d in spec.devices}
        assert {r[1] for r in body} == names, w.name
        ranks = [int(r[0]) for r in body if r[0] != "-"]
        assert ranks == list(range(1, len(ranks) + 1))
    # every datasheet source of every candidate is listed
    import hwdb

    for d in spec.devices:
        for s in hwdb.get(d).sources.values():
            assert s.url in html, (d, s.url)
    for v in ("python", "matplotlib", "plotly", "roofline-workbench"):
        assert v in text


@pytest.mark.parametrize("name", sorted(SPECS))
def test_pdf_is_multipage_and_not_blank(built, name, tmp_path):
    pdf = built[name]["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 5
    assert b"CreationDate" not in pdf  # no clock in the file
    if PDFTOPPM is None:
        pytest.skip("pdftoppm missing (poppler-utils): run scripts/install_report_tools.sh")
    subprocess.run([PDFTOPPM, "-r", "40", "-gray", "-f", "1", "-l", "1", str(built[name]["pdf"]),
                    str(tmp_path / "p")], check=True, timeout=60)
    png = next(tmp_path.glob("p*.pgm"), None) or next(tmp_path.glob("p*"))
    dark = _dark_fraction(png)
    assert 0.005 < dark < 0.5, f"page 1 looks blank or black ({dark:.4f} dark)"


def _dark_fraction(pgm: Path) -> float:
    """Share of pixels darker than mid-grey in a binary PGM (P5) as pdftoppm -gray writes it."""
    data = pgm.read_bytes()
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P5", parts[0]
    w, h = int(parts[1]), int(parts[2])
    pix = parts[4][: w * h]
    return sum(1 for b in pix if b < 128) / (w * h)


def test_reproducible(built, tmp_path):
    """The same spec, hwdb and traces give byte-identical files: another process, hash seed, cwd and out dir."""
    import os
    import sys

    name = "edge-8b.toml"
    env = {**os.environ, "PYTHONHASHSEED": "7"}
    r = subprocess.run([sys.executable, "-m", "roofline", "report", str(SPECS[name]), "--format", "both",
                        "--out", str(tmp_path / "again")], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env=env)
    assert r.returncode == 0, r.stderr
    for fmt in ("html", "pdf"):
        assert (tmp_path / "again" / f"edge-8b.{fmt}").read_bytes() == built[name][fmt].read_bytes(), fmt
    assert sorted(x.name for x in (tmp_path / "again").iterdir()) == ["edge-8b.html", "edge-8b.pdf"]  # no temp files


def test_build_failure_leaves_nothing(tmp_path, monkeypatch):
    import reports.build

    def boom(data):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(reports.build, "render_pdf", boom)  # the name build.py calls
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        write_reports(SPECS["edge-8b.toml"], "both", out)
    assert list(out.iterdir()) == []  # the HTML built fine but is not written without the PDF


GOOD_TRACES = """
title = "measured"
date = "2026-11-22"
[[workload]]
name = "w"
model = "llama-3.2-1b"
phase = "decode"
batch = 1
prompt_tokens = 256
gen_tokens = 16
[devices]
ids = ["h100-sxm"]
[traces]
runs = ["test-h100-run"]
"""


def _fake_run(root: Path) -> None:
    """A tiny trace run with fixed content (two kernels on h100-sxm)."""
    run = root / "test-h100-run"
    run.mkdir(parents=True)
    manifest = {"schema_version": 1, "run_id": "test-h100-run", "host": "testhost", "device_id": "h100-sxm",
                "device_name": "NVIDIA H100 80GB HBM3", "command": "roofline profile --suite test",
                "start": "2026-11-22T10:00:00+00:00", "end": "2026-11-22T10:05:00+00:00", "complete": True,
                "rows": 2, "versions": {"torch": "2.11"}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    cols = "run_id,kernel,impl,shape,dtype,device_id,device_name,median_s,p20_s,p80_s,reps,flops,bytes,energy_j,power_w"
    rows = ['test-h100-run,matmul,ours,"{""M"": 4096}",bf16,h100-sxm,H100,0.00025,0.00024,0.00026,100,1.1e11,1e8,0.17,680',
            'test-h100-run,copy,torch,"{""n"": 268435456}",bf16,h100-sxm,H100,0.00036,0.00035,0.00037,100,0,1.07e9,0.047,'
            '500']
    (run / "rows.csv").write_text(cols + "\n" + "\n".join(rows) + "\n")


def test_measured_section_from_named_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFLINE_TRACES", str(tmp_path / "traces"))
    _fake_run(tmp_path / "traces")
    spec_path = tmp_path / "m.toml"
    spec_path.write_text(GOOD_TRACES)
    spec = load_spec(spec_path)
    html = build_report(spec, "html").decode()
    assert "No measured runs included" not in html
    assert "test-h100-run" in html and "testhost" in html and "Measured vs modeled, per kernel" in html
    assert "2026-11-22" in html  # the spec's date is printed; no other date is
    assert build_report(spec, "html") == html.encode()
    pdf = build_report(spec, "pdf")
    assert pdf == build_report(spec, "pdf") and pdf.startswith(b"%PDF-")


def test_cli_writes_both(tmp_path):
    out = tmp_path / "cli"
    r = subprocess.run([__import__("sys").executable, "-m", "roofline", "report", str(SPECS["edge-8b.toml"]),
                        "--format", "html", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and (out / "edge-8b.html").is_file() and not (out / "edge-8b.pdf").exists()


def test_static_section_only_when_measured_and_static_both_exist(tmp_path, monkeypatch):
    from roofline.measure import traces

    monkeypatch.setenv("ROOFLINE_TRACES", str(tmp_path / "traces"))
    _fake_run(tmp_path / "traces")
    spec_path = tmp_path / "m.toml"
    spec_path.write_text(GOOD_TRACES)
    spec = load_spec(spec_path)
    assert "static (SASS) prediction" not in build_report(spec, "html").decode()  # no inspection saved
    row = {"kernel": "matmul", "launch": "k", "shape": "M=4096", "dtype": "bf16", "config": "", "first_choice": True,
           "regs": 168, "spill_bytes": 0, "smem_bytes": 1e5, "num_warps": 8, "num_stages": 3, "grid_ctas": 264,
           "mma": "HGMMA", "ldg128_share": 1.0, "local_ops": 0, "instrs": 2000, "hot_loop_instrs": 40,
           "instr_per_weight": None, "instr_per_byte": None, "issue_floor_s": 1e-4, "memory_floor_s": 3e-5,
           "compute_floor_s": 2.0e-4, "predicted_bound": "compute", "kind": "static", "source": "triton x sm90"}
    traces.write_static({"kind": "static", "arch": "sm90", "device_id": "h100-sxm", "rows": [row], "date": "d"})
    html = build_report(spec, "html").decode()
    assert "Measured beside the static (SASS) prediction" in html and "HGMMA" in html
    assert "1.25" in html  # measured 0.25 ms / static floor 0.2 ms
    assert build_report(spec, "pdf").startswith(b"%PDF-")
