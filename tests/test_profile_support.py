"""Test helper (no tests here): run the `roofline` CLI in-process (main(): user errors -> one line on stderr, exit 2)."""

from __future__ import annotations

import sys


def run_cli(monkeypatch, capsys, args: list[str]) -> tuple[int, str, str]:
    from roofline.cli import main

    monkeypatch.setattr(sys, "argv", ["roofline", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
