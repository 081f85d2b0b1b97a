"""The JSON API (v1): bearer tokens, problem details, cursor pages, idempotent POSTs, and an
OpenAPI document generated from the schemas that validate the requests (flask-smorest).

The views call the services of the pages and of the command line; no rule lives here twice.
"""

from flask import Flask, current_app, g, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from webapp.api import access
from webapp.api.problems import (
    API_PREFIX,
    PROBLEM_TYPE,
    Problem,
    from_problem,
    is_api_request,
    problem_response,
    validation_errors,
)
from webapp.extensions import csrf
from webapp.web import ERROR_ANSWERS, TOKEN_AUTH_BLUEPRINTS, bad_input_message

API_TITLE = "Partner commissions API"
API_VERSION = "v1"


#: The section of the API reference each blueprint's endpoints are listed under (its tag):
#: what they hold, not the blueprint's name.
SECTION_TITLES = {
    "api_partners": "Partners and periods",
    "api_wallets": "Partner wallets",
    "api_imports": "Data imports",
    "api_commissions": "Commissions and runs",
    "api_runs": "Month-end transitions",
    "api_payouts": "Payables, payouts and statements",
}


class ProblemApi(Api):
    """flask-smorest's Api, answering errors as RFC 9457 problem details."""

    DEFAULT_RESPONSE_CONTENT_TYPE = "application/json"

    def register_blueprint(self, blp, *, parameters=None, **options):
        """Register as flask-smorest does, with the endpoints' tag (their section in the
        reference) named by SECTION_TITLES instead of the blueprint's name."""
        name = options.get("name", blp.name)
        title = SECTION_TITLES.get(name, name)
        add_tag, add_path = self.spec.tag, self.spec.path

        def path(*args, operations=None, **kwargs):
            for operation in (operations or {}).values():
                if isinstance(operation, dict) and operation.get("tags") == [name]:
                    operation["tags"] = [title]
            return add_path(*args, operations=operations, **kwargs)

        self.spec.tag = lambda tag: add_tag({**tag, "name": title})
        self.spec.path = path
        try:
            super().register_blueprint(blp, parameters=parameters, **options)
        finally:
            del self.spec.tag
            del self.spec.path

    def _register_error_handlers(self):
        """Errors are answered by `_install_error_handlers`, for API paths only."""

    def _register_responses(self):
        from http import HTTPStatus

        from flask_smorest.utils import prepare_response

        from webapp.api.schemas import ProblemSchema

        for status in HTTPStatus:
            if status >= 400:
                response = {"description": status.phrase, "schema": ProblemSchema}
                prepare_response(response, self.spec, PROBLEM_TYPE)
                self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem (RFC 9457)", "schema": ProblemSchema}
        prepare_response(response, self.spec, PROBLEM_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def current_spec():
    """The OpenAPI document of the current app's API, as a dict."""
    return current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()


def _blueprints():
    from webapp.api import commissions, imports, partners, payouts, runs, wallets

    return (partners.blp, wallets.blp, imports.blp, commissions.blp, runs.blp, payouts.blp)


def init_api(app: Flask) -> None:
    """Register the API's blueprints, its document and reference page, and its error answers."""
    app.config.setdefault("API_TITLE", API_TITLE)
    app.config.setdefault("API_VERSION", API_VERSION)
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "servers": [{"url": "/"}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An API token from the API tokens page or "
                        "`flask tokens create`",
                    }
                }
            },
            "security": [{"bearerAuth": []}],
            "info": {
                "description": "Partners, wallets, periods, imports, commissions and runs. "
                "Amounts are exact decimal strings; lists are cursor-paginated; errors are "
                "RFC 9457 problem details."
            },
        },
    )
    # One Api per app (each test builds its own app); smorest keeps it in app.extensions.
    api = ProblemApi(app)
    from webapp.api.schemas import AmountField, WalletBulkBodySchema

    api.register_field(AmountField, "string", None)
    api.spec.components.schema("WalletBulkBody", schema=WalletBulkBodySchema)
    for blueprint in _blueprints():
        api.register_blueprint(blueprint)
        # Safe: the API never reads the session cookie, so no cross-site request can act.
        csrf.exempt(blueprint)
        TOKEN_AUTH_BLUEPRINTS.add(blueprint.name)

    from webapp.api import docs

    app.register_blueprint(docs.bp)
    TOKEN_AUTH_BLUEPRINTS.add(docs.bp.name)
    _install_hooks(app)
    _install_error_handlers(app)
    ERROR_ANSWERS[API_PREFIX] = problem_response  # the site's error pages, on API paths


def _is_token_request() -> bool:
    return request.blueprint in TOKEN_AUTH_BLUEPRINTS and request.blueprint != "api_docs"


def _install_hooks(app: Flask) -> None:
    @app.before_request
    def authenticate_api_request():
        # The token first: a request without one is refused before its body is read.
        if request.blueprint not in TOKEN_AUTH_BLUEPRINTS:
            return None
        if _is_token_request():
            access.authenticate_request()
        access.check_json_body()
        message = bad_input_message()
        if message:
            raise Problem(400, message)
        if _is_token_request():
            return access.replay_or_reserve()
        return None

    @app.after_request
    def keep_idempotent_answer(response):
        if "idempotency_key_id" in g:
            return access.store_answer(response)
        return response

    @app.teardown_request
    def free_unanswered_key(error):
        if error is not None and "idempotency_key_id" in g:
            access.release_key()


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def answer_problem(problem):
        return from_problem(problem)

    @app.errorhandler(HTTPException)
    def answer_http_error(error):
        if not is_api_request():
            return error
        data = getattr(error, "data", None) or {}
        if error.code == 422 and "messages" in data:
            errors = validation_errors(data["messages"])
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
            return problem_response(422, detail or "invalid input", errors=errors)
        headers = {}
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return problem_response(error.code or 500, error.description or "", headers=headers)
