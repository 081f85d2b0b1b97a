"""The command line's one answer to a database failure: a single line on standard error and a
non-zero exit, instead of a traceback carrying the SQL and its parameters."""

import functools

import click
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import database_error_line


def _guarded(callback):
    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except SQLAlchemyError as exc:
            raise click.ClickException(database_error_line(exc)) from None

    run.guards_database_errors = True
    return run


def _guard(command: click.Command) -> None:
    if command.callback is not None and not getattr(
        command.callback, "guards_database_errors", False
    ):
        command.callback = _guarded(command.callback)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _guard(sub)


def guard_database_errors(app: Flask) -> None:
    """Make every command of the app (`flask partners …`, `flask import …`, …) answer a
    database failure with one line and exit status 1."""
    for command in app.cli.commands.values():
        _guard(command)
