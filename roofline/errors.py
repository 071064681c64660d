"""Project errors: one tree rooted at ``RooflineError``. Each class carries the exit code the CLI uses
when it prints the error as one line on stderr (pure functions raise; only the CLI exits).

Standard library only: ``hwdb`` and ``kernels`` import this module too.
"""

from __future__ import annotations

import difflib

EXIT_OK = 0
EXIT_USER = 2  # bad input, unknown names, missing tools, corrupt files: one line, nothing half-written
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGINT (128 + 2), as a shell reports it; SIGTERM stops a profile with 143
EXIT_INTERNAL = 70  # an unexpected exception: a bug in roofline, not the user's input (BSD EX_SOFTWARE)


class RooflineError(Exception):
    """Base for every error a user can cause (bad input, unknown names, missing tools)."""

    exit_code: int = EXIT_USER


class InputError(RooflineError):
    """A value the user gave cannot be used (non-positive batch, unparsable spec, ...)."""


class UnknownNameError(RooflineError):
    """An unknown device, model, kernel, suite or runtime; the message suggests the closest names."""

    def __init__(self, what: str, name: str, known: list[str], fallback: str | None = None):
        self.what, self.name = what, name
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        if close:
            hint = f"; did you mean {', '.join(close)}?"
        elif fallback:
            hint = f"; {fallback}"
        else:
            hint = f" (known: {', '.join(sorted(known)[:12])}{', ...' if len(known) > 12 else ''})"
        super().__init__(f"unknown {what} {name!r}{hint}")


class UnsupportedDtypeError(InputError):
    """A dtype the device (or a kernel) has no peak or path for; absent in hwdb means unsupported."""


class MissingFigureError(InputError):
    """A device lacks a figure the model needs for this op (e.g. interconnect bandwidth for a collective)."""


class DataFileError(InputError):
    """A shipped or user data file (device TOML, suite, spec, trace, export) that cannot be used;
    the message names the file and the field."""
