"""The `roofline` command. Each verb lives in a cli_* module as a thin wrapper over pure functions;
`main()` turns every user error into one line on stderr and exit code 2."""

from __future__ import annotations

import sys

import typer

from roofline import __version__
from roofline.cli_hw import hw_app

app = typer.Typer(name="roofline", help="Roofline analysis workbench for LLM inference.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
app.add_typer(hw_app, name="hw")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"roofline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Roofline analysis workbench for LLM inference: datasheet, modeled and measured numbers, with sources."""


def _register() -> None:
    """Verbs from other modules (kept here so one file lists the whole CLI)."""
    # Each line: import a cli_* module and attach its commands/sub-apps to `app`.
    import importlib

    for mod in ("roofline.cli_models", "roofline.cli_profile", "roofline.cli_report", "roofline.cli_app"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name == mod:  # that part of the product is not built yet
                continue
            raise
        m.register(app)


_register()


def main() -> None:
    from roofline.errors import user_errors

    try:
        rv = app(standalone_mode=False)  # click returns typer.Exit codes instead of raising here
        if isinstance(rv, int) and rv != 0:
            sys.exit(rv)
    except user_errors() as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as e:  # click usage errors (bad option, missing argument); typer vendors click
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            typer.echo(f"error: {e.format_message()}", err=True)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
