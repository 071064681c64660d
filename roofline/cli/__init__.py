"""The `roofline` command: the typer app and ``main()``. Each verb group lives in its own module
(``hw``, ``models``, ``profile``, ``serving``, ``report``, ``dashboard``) as thin wrappers over pure functions;
``main()`` turns every user error into one line on stderr and the error's exit code (2)."""

from __future__ import annotations

import sys

import typer

from roofline import __version__
from roofline.cli import dashboard, hw, models, profile, report, serving
from roofline.errors import EXIT_INTERRUPTED, EXIT_USER, RooflineError

app = typer.Typer(name="roofline", help="Roofline analysis workbench for LLM inference.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"roofline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Roofline analysis workbench for LLM inference: datasheet, modeled and measured numbers, with sources."""


for _group in (hw, models, profile, serving, report, dashboard):  # the whole CLI, in the order `--help` lists it
    _group.register(app)


def main() -> None:
    try:
        rv = app(standalone_mode=False)  # click returns typer.Exit codes instead of raising here
        if isinstance(rv, int) and rv != 0:
            sys.exit(rv)
    except RooflineError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:  # usage errors (bad option, missing argument): typer vendors click's exceptions
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            typer.echo(f"error: {e.format_message()}", err=True)
            sys.exit(EXIT_USER)
        raise
