"""The `roofline` command: the typer app and ``main()``. Each verb group lives in its own module
(``hw``, ``models``, ``profile``, ``serving``, ``report``, ``dashboard``) as thin wrappers over pure functions;
``main()`` turns every user error into one line on stderr and the error's exit code (2)."""

from __future__ import annotations

import os
import sys

import typer

from roofline import __version__
from roofline.cli import dashboard, hw, kernels, models, planning, profile, report, serving
from roofline.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USER, RooflineError

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


for _group in (hw, models, planning, profile, serving, kernels, report, dashboard):  # the whole CLI, in the order `--help` lists it
    _group.register(app)


def main() -> None:
    """Run the CLI. A user error prints one line on stderr and exits with its code (2); Ctrl-C exits 130;
    an unexpected exception (a bug) prints one line naming it and exits 70, with the traceback only under
    ROOFLINE_TRACEBACK=1. Nothing reaches the user as a raw traceback."""
    try:
        rv = app(standalone_mode=False)  # click returns typer.Exit codes instead of raising here
        if isinstance(rv, int) and rv != 0:
            sys.exit(rv)
    except RooflineError as e:
        typer.echo(f"error: {_one_line(str(e))}", err=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort as e:
        # click turns an EOFError (e.g. a prompt on a closed stdin) into Abort as well as Ctrl-C
        if isinstance(e.__context__, EOFError) or isinstance(e.__cause__, EOFError):
            typer.echo("error: unexpected end of input", err=True)
            sys.exit(EXIT_USER)
        typer.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        typer.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # `roofline hw list | head`: the reader left; not an error of ours
        sys.stderr.close()
        sys.exit(EXIT_OK)
    except SystemExit:
        raise
    except Exception as e:
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):  # usage errors: typer vendors click's
            typer.echo(f"error: {_one_line(e.format_message())}", err=True)
            sys.exit(EXIT_USER)
        if os.environ.get("ROOFLINE_TRACEBACK"):
            raise
        typer.echo(f"internal error: {type(e).__name__}: {_one_line(str(e))[:300]} (a bug in roofline; "
                   "ROOFLINE_TRACEBACK=1 shows the traceback)", err=True)
        sys.exit(EXIT_INTERNAL)


def _one_line(msg: str) -> str:
    """The promise is one line on stderr: a message that carries newlines is folded."""
    return " ".join(msg.split())
