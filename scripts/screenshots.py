"""Regenerate the README's pictures (docs/img/*.png, a few tens of KB each) from the running product:

    python scripts/screenshots.py [--out docs/img]

1. the headless-Chromium smoke test (tests/app/test_browser_smoke.py) serves the dashboard and captures every
   page whole into a scratch folder ($ROOFLINE_SCREENSHOTS);
2. the 70B serving report (reports/specs/serve-llama-70b-4bit.toml) is built as a PDF and its verdict page and
   a breakdown page are rendered with pdftoppm;
3. each picture is cropped to the part the README shows, scaled to 760 px wide and stored as a 256-colour PNG.

Needs Chromium (scripts/install_browser.sh), pdftoppm and pdftotext (scripts/install_report_tools.sh) and
Pillow (a matplotlib dependency). Nothing here changes data; rerun it after a UI change and commit the PNGs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 760
# README picture -> (dashboard page, top and bottom of the crop in pixels of the 1400 px wide page capture)
CROPS = {
    "dashboard-workload.png": ("workload", 120, 1280),
    "dashboard-breakdown.png": ("workload", 1220, 2080),
    "dashboard-scaling.png": ("workload", 2480, 2960),
    "dashboard-selection.png": ("selection", 120, 1560),
    "dashboard-compare.png": ("compare", 900, 1900),
    "dashboard-energy.png": ("energy", 1500, 2600),
}
REPORT = ROOT / "reports" / "specs" / "serve-llama-70b-4bit.toml"
# report picture -> a phrase on the PDF page to show
REPORT_PAGES = {"report-verdict.png": "Sensitivity: what would change the answer",
                "report-breakdown.png": "Where the latency goes"}


def save_small(img: Image.Image, path: Path, width: int = WIDTH) -> None:
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)


def dashboard_pages(scratch: Path) -> Path:
    pages = scratch / "pages"
    env = {**os.environ, "ROOFLINE_SCREENSHOTS": str(pages), "TRITON_INTERPRET": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "app" /
                                                                                        "test_browser_smoke.py")],
                   cwd=ROOT, env=env, check=True, timeout=900)
    return pages


def report_pages(scratch: Path) -> dict[str, Path]:
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} missing: run scripts/install_report_tools.sh")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "roofline", "report", str(REPORT), "--format", "pdf", "--out",
                    str(scratch)], cwd=ROOT, env=env, check=True, timeout=300)
    pdf = scratch / f"{REPORT.stem}.pdf"
    out = {}
    for name, phrase in REPORT_PAGES.items():
        for page in range(1, 60):
            r = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True,
                               text=True, timeout=60)
            if r.returncode != 0:
                raise SystemExit(f"no page of {pdf.name} says {phrase!r}")
            if phrase in r.stdout:
                stem = scratch / name.removesuffix(".png")
                subprocess.run(["pdftoppm", "-r", "110", "-png", "-singlefile", "-f", str(page), "-l", str(page),
                                str(pdf), str(stem)], check=True, timeout=60)
                out[name] = stem.with_suffix(".png")
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        scratch = Path(d)
        pages = dashboard_pages(scratch)
        for name, (page, top, bottom) in CROPS.items():
            img = Image.open(pages / f"{page}.png")
            left = 300  # the sidebar is the same on every page: leave it out
            save_small(img.crop((left, top, img.width, min(bottom, img.height))), out / name)
        for name, png in report_pages(scratch).items():
            save_small(Image.open(png), out / name)
    for p in sorted(out.glob("*.png")):
        print(f"{p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}  {p.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
