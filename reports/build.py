"""Build reports: ``build_report(spec, fmt) -> bytes`` (pure) and ``write_reports`` (atomic files).

Same spec + hwdb + traces -> byte-identical output: nothing here reads the clock, the host or a random
source. Files are written to a temporary file in the output folder and moved into place with os.replace,
so a failure never leaves half a report.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from reports.content import gather
from reports.html import render_html
from reports.pdf import render_pdf
from reports.spec import ReportSpec, load_spec
from roofline.engine.runtime import get_profile
from roofline.errors import InputError

FORMATS = ("html", "pdf")
CHOICES = ("html", "pdf", "both")


def formats_for(fmt: str) -> tuple[str, ...]:
    if fmt not in CHOICES:
        raise InputError(f"unknown report format {fmt!r} (use html, pdf or both)")
    return FORMATS if fmt == "both" else (fmt,)


def build_report(spec: ReportSpec, fmt: str = "html") -> bytes:
    """The report for ``spec`` in one format ("html" or "pdf"), as bytes."""
    if fmt not in FORMATS:
        raise InputError(f"unknown report format {fmt!r} (use html or pdf)")

    data = gather(spec, fmt)
    if fmt == "html":

        return render_html(data).encode("utf-8")

    return render_pdf(data)


def output_name(spec_path: str | Path, fmt: str) -> str:
    return f"{Path(spec_path).stem}.{fmt}"


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: output path exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out_dir}: cannot create output folder: {e.strerror or e}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise InputError(f"{out_dir}: output folder is not writable")


def _atomic_write(target: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise InputError(f"{target.parent}: cannot write there: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise InputError(f"{target}: cannot write: {e.strerror or e}") from None
        raise


def write_reports(spec_path: str | Path, fmt: str, out_dir: str | Path, runtime: str | None = None) -> list[Path]:
    """Validate the spec, build every requested format in memory, then write each file atomically.

    ``runtime`` replaces the spec's runtime profile. Nothing is written unless every format built; raises
    InputError / UnknownNameError on bad input.
    """
    fmts = formats_for(fmt)
    out = Path(out_dir)
    spec = load_spec(spec_path)
    if runtime:
        spec = replace(spec, runtime=get_profile(runtime).name)
    _check_out_dir(out)
    built = {f: build_report(spec, f) for f in fmts}
    paths = []
    for f, data in built.items():
        target = out / output_name(spec_path, f)
        _atomic_write(target, data)
        paths.append(target)
    return paths
