"""`/api/v1/openapi.json` and `/api/v1/docs`: the document and a reference page.

Both are readable without a token: they describe the API and hold no data. The page uses
Swagger UI from `static/vendor`, booted by a static script (no inline script or style).
"""

from flask import Blueprint, current_app, jsonify, render_template

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1")


@bp.route("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document of the API, schemas included."""
    from webapp.api import current_spec

    return jsonify(current_spec())


@bp.route("/docs")
def docs():
    """The interactive reference page."""
    return render_template("api/docs.html", title=current_app.config["API_TITLE"])
