"""How the `neuronal` command reports a mistake: one `error: ...` line, never a traceback.

A usage mistake (an unknown option, a value of the wrong kind, a missing file, a malformed
spec) names the option and what it expects and exits 2; a refusal by the server or a server
that cannot be reached exits 1 (see `service.cli.client_commands`).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import typer

# typer carries its own copy of click (from 0.29): its exceptions are the ones raised here
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer._click.globals import get_current_context
from typer.main import get_command

from service.core.config import InvalidSettings

USAGE = 2


def usage_error(option: str, expected: str) -> NoReturn:
    """Stop the command: `option` was given a value it cannot take; `expected` says what."""
    ctx = get_current_context(silent=True)
    raise typer.BadParameter(expected, ctx=ctx, param_hint=option)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run(app: typer.Typer) -> None:
    """Run `app` as the `neuronal` command with one-line errors."""
    command = get_command(app)
    try:
        code = command.main(prog_name="neuronal", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help())
        code = 0
    except UsageError as exc:
        message = exc.format_message()
        misplaced = "No such option: --url" in message or "No such option: --key" in message
        if exc.ctx is not None and exc.ctx.parent is None and misplaced:
            message += "; --url and --key go after the command, e.g. neuronal jobs list --url URL"
        typer.echo(f"error: {message}{_help_hint(exc.ctx)}", err=True)
        code = USAGE
    except typer.TyperException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        code = exc.exit_code
    except typer.Abort:
        typer.echo("error: interrupted", err=True)
        code = 130
    except InvalidSettings as exc:  # a NEURONAL_ variable the settings refuse
        typer.echo(f"error: {exc}", err=True)
        code = USAGE
    except OSError as exc:  # a file that cannot be read or written, a full disk
        typer.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


def _help_hint(ctx: Any) -> str:
    return f" (see '{ctx.command_path} --help')" if ctx is not None else ""
