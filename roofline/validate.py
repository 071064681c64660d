"""One validation layer for the numbers and names a user gives: CLI options, suite / spec / trace fields and
the pure functions behind them. Each check returns the value it accepted or raises ``InputError`` (one line
naming the field and the value), so every verb refuses the same bad value with the same words, whether it
came from the command line, a TOML file or a Python call.

Standard library only (the base of the wings); the rules for a field live where the field is defined and
call these helpers.
"""

from __future__ import annotations

import math
import numbers
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from roofline.errors import DataFileError, InputError, UnknownNameError


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    return f"{'<' if hi_open else '<='} {hi:g}"


def number(what: str, value: Any, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False, integer: bool = False) -> Any:
    """``value`` if it is a finite real number (an integer when ``integer``) within the bounds; else InputError.

    Booleans are not numbers here (TOML ``true`` for a count is a typo, not 1)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be {kind}, got {value!r}")
    if integer and not isinstance(value, numbers.Integral):
        raise InputError(f"{what} must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    bad = ((lo is not None and (value <= lo if lo_open else value < lo))
           or (hi is not None and (value >= hi if hi_open else value > hi)))
    if bad:
        raise InputError(f"{what} must be {_range_text(lo, hi, lo_open, hi_open)}, got {value!r}")
    return value


def positive(what: str, value: Any, *, integer: bool = False, hi: float | None = None) -> Any:
    """A finite number > 0 (an integer >= 1 when ``integer``), at most ``hi`` when given."""
    if integer:
        return number(what, value, lo=1, hi=hi, integer=True)
    return number(what, value, lo=0, lo_open=True, hi=hi)


def optional_positive(what: str, value: Any, *, integer: bool = False, hi: float | None = None) -> Any:
    """None (use the default), or ``positive``."""
    return None if value is None else positive(what, value, integer=integer, hi=hi)


def fraction(what: str, value: Any, *, zero: bool = False, one: bool = True) -> float:
    """A number in (0, 1] by default; ``zero`` admits 0, ``one=False`` excludes 1."""
    return number(what, value, lo=0, hi=1, lo_open=not zero, hi_open=not one)


def choice(what: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; else UnknownNameError suggesting the closest ones."""
    if not isinstance(value, str) or value not in choices:
        raise UnknownNameError(what, str(value), list(choices), fallback=f"use one of {', '.join(choices)}")
    return value


def text(what: str, value: Any, *, empty: bool = False) -> str:
    """A string (non-empty unless ``empty``)."""
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise InputError(f"{what} must be a {'' if empty else 'non-empty '}string, got {value!r}")
    return value


def strings(what: str, value: Any) -> tuple[str, ...]:
    """A list of non-empty strings (a bare string is refused: ``dtypes = "fp32"`` is not ``["fp32"]``)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InputError(f"{what} must be a list of strings, e.g. [\"a\", \"b\"], got {value!r}")
    for i, v in enumerate(value):
        text(f"{what}[{i}]", v)
    return tuple(value)


def name_list(what: str, value: str | None) -> list[str] | None:
    """A comma list from the command line (``a,b``): None when not given; a list naming nothing is refused
    (``--kernels ","`` must not mean "all")."""
    if value is None:
        return None
    names = [v.strip() for v in str(value).split(",")]
    if not any(names):
        raise InputError(f"{what} lists no names (got {value!r}; give a comma list such as a,b)")
    if not all(names):
        raise InputError(f"{what} has an empty name in {value!r}")
    return names


def known_names(what: str, names: Iterable[str], known: Iterable[str]) -> None:
    """Each of ``names`` must be in ``known`` (UnknownNameError for the first that is not)."""
    known = list(known)
    for n in names:
        if n not in known:
            raise UnknownNameError(what, n, known)


def exclusive(**flags: bool) -> None:
    """At most one of the named flags may be set (``--json`` and ``--csv`` are two ways to print)."""
    on = [k for k, v in flags.items() if v]
    if len(on) > 1:
        raise InputError(f"{' and '.join(on)} cannot be used together; choose one")


def keys(what: str, table: Any, allowed: Iterable[str]) -> dict:
    """``table`` must be a TOML table whose keys are all ``allowed`` (a typo is an error, not ignored)."""
    if not isinstance(table, dict):
        raise InputError(f"{what} must be a table, got {table!r}")
    allowed = set(allowed)
    for k in table:
        if k not in allowed:
            raise InputError(f"{what}.{k}: unknown field (allowed: {', '.join(sorted(allowed))})")
    return table


def toml_file(path: str | Path) -> dict:
    """A TOML data file as a dict; DataFileError in one line naming the file when it cannot be read or parsed."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise DataFileError(f"{p.name}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise DataFileError(f"{p.name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DataFileError(f"{p}: cannot read: {e.strerror or e}") from None
