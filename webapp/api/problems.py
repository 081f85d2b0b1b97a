"""RFC 9457 problem details: the one shape of every error the JSON API answers."""

from http import HTTPStatus

from flask import Response, json, request

#: Every path of the JSON API starts with this.
API_PREFIX = "/api/"
PROBLEM_TYPE = "application/problem+json"


class Problem(Exception):
    """An error answer of the API: status, a one-line detail, and per-field `errors`."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict] | None = None,
        headers: dict | None = None,
        **extra,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


def is_api_request() -> bool:
    """True when the current request is addressed to the JSON API."""
    return request.path.startswith(API_PREFIX)


def problem_response(
    status: int,
    detail: str,
    errors: list[dict] | None = None,
    headers: dict | None = None,
    **extra,
) -> Response:
    """An `application/problem+json` response."""
    phrase = HTTPStatus(status).phrase
    body = {
        "type": "about:blank",
        "title": phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_problem(problem: Problem) -> Response:
    """The response of a raised Problem."""
    return problem_response(
        problem.status, problem.detail, problem.errors, problem.headers, **problem.extra
    )


def validation_errors(messages) -> list[dict]:
    """webargs' nested messages ({location: {field: [message]}}) as flat `errors` entries."""
    errors: list[dict] = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, int):
                    walk(value, f"{path}[{key}]")
                elif key == "_schema":
                    walk(value, path)
                else:
                    walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item, path)
        else:
            errors.append({"field": path or "body", "message": str(node)})

    for location_messages in (messages or {}).values():
        walk(location_messages, "")
    return errors


#: What each documented error status means, for the OpenAPI document.
PROBLEM_DESCRIPTIONS = {
    401: "No API token, or an unknown or revoked one",
    403: "The token's scope or its user's role does not allow this",
    404: "No such partner, wallet or run",
    409: "Conflicts with stored data",
    413: "The body is larger than the upload limit",
    415: "The body's media type is not accepted here",
    422: "Invalid input; `errors` lists each field or row at fault",
}


def documents_problems(blp, *statuses: int):
    """Document these error statuses of an operation as problem details."""
    from webapp.api.schemas import ProblemSchema

    def decorator(view):
        for status in statuses:
            view = blp.alt_response(
                status,
                schema=ProblemSchema,
                content_type=PROBLEM_TYPE,
                description=PROBLEM_DESCRIPTIONS[status],
            )(view)
        return view

    return decorator
