"""The architecture rules of docs/ARCHITECTURE.md, enforced: import-linter's contracts (pyproject.toml), and
the one exception to top-level imports (torch / triton / streamlit inside a function, with a comment)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("roofline", "kernels", "hwdb", "reports", "app")
LAZY_OK = ("torch", "triton", "streamlit", "gemlite", "ray")  # gemlite: an optional Triton peer that touches CUDA at
# import; ray: the optional `scale` extra, imported only when a command is given --ray (roofline.engine.distribute)
# The kernel families import torch and triton at their top: measuring code that needs one kernel module
# (kernels.registry.load_all, the static inspection) imports it when it is needed, so the CLI starts fast.
KERNEL_MODULES = ("kernels.attention", "kernels.ceilings", "kernels.quant", "kernels.sparse", "kernels.common")


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail("lint-imports (import-linter) is not installed: `pip install -e .[dev]`")
    p = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "broken" in p.stdout and " 0 broken" in p.stdout


def _commented(lines: list[str], i: int) -> bool:
    """A comment on the import's line, or above the block of imports it belongs to."""
    if "#" in lines[i]:
        return True
    j = i - 1
    while j >= 0:
        t = lines[j].strip()
        if t.startswith("#"):
            return True
        if not t or t.startswith(("import ", "from ")) or t.endswith(("(", ",")) or t == ")":
            j -= 1
            continue
        return False
    return False


def _function_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, module, commented) for every import inside a function of ``path``."""
    src = path.read_text()
    lines = src.splitlines()
    out: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_func: bool) -> None:
        for ch in ast.iter_child_nodes(node):
            if in_func and isinstance(ch, (ast.Import, ast.ImportFrom)):
                mod = ch.module if isinstance(ch, ast.ImportFrom) else ch.names[0].name
                out.append((ch.lineno, mod or "", _commented(lines, ch.lineno - 1)))
            visit(ch, in_func or isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(src), False)
    return out


def test_imports_inside_functions_only_for_torch_triton_streamlit_and_kernel_modules():
    bad = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, mod, commented in _function_imports(path):
                allowed = mod.split(".")[0] in LAZY_OK or any(mod == k or mod.startswith(k + ".")
                                                               for k in KERNEL_MODULES)
                if not allowed:
                    bad.append(f"{rel}:{line}: import {mod} inside a function (move it to the top)")
                elif not commented:
                    bad.append(f"{rel}:{line}: lazy import of {mod} without a comment saying why")
    assert not bad, "\n".join(bad)


def test_no_lazy_reexports():
    """No module-level ``__getattr__`` that hands out another module's names (moved things change callers)."""
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text())
            names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert "__getattr__" not in names, path


def test_python_dash_m_roofline():
    p = subprocess.run([sys.executable, "-m", "roofline", "--version"], capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    assert p.returncode == 0 and p.stdout.startswith("roofline "), p.stderr
