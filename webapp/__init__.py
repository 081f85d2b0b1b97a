"""Partner commissions: the application factory."""

import importlib
import os

from flask import Flask

from webapp import reward_partitions
from webapp.config import ConfigError, load_config
from webapp.extensions import csrf, db, login_manager, migrate

PAGE_AND_COMMAND_MODULES = (
    "webapp.auth.routes",
    "webapp.auth.cli",
    "webapp.main.routes",
    "webapp.partners.routes",
    "webapp.partners.cli",
    "webapp.chains.routes",
    "webapp.chains.cli",
    "webapp.wallets.routes",
    "webapp.wallets.cli",
    "webapp.agreements.routes",
    "webapp.agreements.cli",
    "webapp.imports.routes",
    "webapp.imports.cli",
    "webapp.commissions.routes",
    "webapp.commissions.close_routes",
    "webapp.commissions.downloads",
    "webapp.commissions.runs_list",
    "webapp.commissions.cli",
    "webapp.payouts.routes",
    "webapp.payouts.cli",
    "webapp.insight.routes",
    "webapp.history.routes",
    "webapp.api.cli",
    "webapp.jobs.routes",
    "webapp.jobs.cli",
)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, command line."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH") or os.path.join(root, "instance"),
        template_folder=os.path.join(root, "templates"),
        static_folder=os.path.join(root, "static"),
    )
    load_config(app, test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=os.path.join(root, "migrations"),
        render_as_batch=True,
        compare_type=True,
        include_name=reward_partitions.include_name,
    )
    login_manager.init_app(app)

    from webapp import (
        agreements,
        auth,
        chains,
        commissions,
        history,
        imports,
        insight,
        jobs,
        main,
        models,  # noqa: F401 - registers the tables on the metadata
        partners,
        payouts,
        wallets,
    )
    from webapp.api import init_api
    from webapp.api import pages as api_pages
    from webapp.commands import guard_database_errors
    from webapp.demo import seed_demo_command
    from webapp.web import init_web

    # An area's package holds only its blueprint; importing these modules attaches its pages
    # and its commands to it. Services never import them, so the import graph has no cycles.
    for module in PAGE_AND_COMMAND_MODULES:
        importlib.import_module(module)

    init_web(app)  # first, so that a signed-out request is sent to sign in before CSRF checks
    csrf.init_app(app)
    # Each blueprint brings its pages and its command group (`cli_group`: flask users ...).
    app.register_blueprint(auth.bp)  # flask users
    app.register_blueprint(main.bp)
    app.register_blueprint(partners.bp)  # flask partners
    app.register_blueprint(chains.bp)  # flask chains
    app.register_blueprint(wallets.bp)  # flask wallets
    app.register_blueprint(agreements.bp)  # flask agreements
    app.register_blueprint(imports.bp)  # flask import
    app.register_blueprint(commissions.bp)  # flask commissions
    app.register_blueprint(payouts.bp)  # flask payouts
    app.register_blueprint(insight.bp)
    app.register_blueprint(history.bp)  # the history pages, under /audit/
    app.register_blueprint(api_pages.bp)  # flask tokens
    app.register_blueprint(jobs.bp)  # flask jobs
    app.cli.add_command(seed_demo_command)  # flask seed-demo
    init_api(app)  # the JSON API's blueprints, its document and its reference page
    guard_database_errors(app)  # a database failure is one line on the command line
    return app


def check_database(app: Flask) -> None:
    """Connect once, so that an unreachable database stops the start with one clear line."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with app.app_context():
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            url = db.engine.url.render_as_string(hide_password=True)
            raise ConfigError(f"cannot connect to the database {url}: {reason}") from None


__all__ = ["ConfigError", "check_database", "create_app"]
