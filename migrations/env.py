"""Alembic environment: runs the migrations against the app's database.

Batch mode keeps ALTERs working on SQLite; the project's column types render as
`webapp.db_types.*` so generated migrations need no hand edits for them.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

db = current_app.extensions["migrate"].db


def render_item(type_, obj, autogen_context):
    """Render the project's own column types by their import path."""
    if type_ == "type" and type(obj).__module__ == "webapp.db_types":
        autogen_context.imports.add("import webapp.db_types")
        return f"webapp.db_types.{type(obj).__name__}()"
    return False


def _configure(**kwargs):
    context.configure(
        target_metadata=db.metadata,
        render_item=render_item,
        **current_app.extensions["migrate"].configure_args,
        **kwargs,
    )


def run_migrations_offline():
    """Emit SQL to standard output instead of running it."""
    _configure(url=db.engine.url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run against a live connection, in one transaction."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Batch mode recreates tables; cascading deletes must not fire while it does.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
