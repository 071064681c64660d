"""Project errors. The CLI turns any of these into one line on stderr and exit code 2."""

from __future__ import annotations


class RooflineError(Exception):
    """Base for every error a user can cause (bad input, unknown names, missing tools)."""


class InputError(RooflineError):
    """A value the user gave cannot be used (non-positive batch, unparsable spec, ...)."""


class UnknownNameError(RooflineError):
    """An unknown device, model, kernel or suite; the message suggests the closest names."""

    def __init__(self, what: str, name: str, known: list[str]):
        import difflib

        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(sorted(known)[:12])}{', ...' if len(known) > 12 else ''})"
        super().__init__(f"unknown {what} {name!r}{hint}")


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types the CLI reports as one line + exit 2 (never a traceback)."""
    from hwdb.loader import UnknownDeviceError
    from hwdb.schema import HwdbError
    from roofline.model import UnsupportedDtypeError

    return (RooflineError, HwdbError, UnknownDeviceError, UnsupportedDtypeError)
