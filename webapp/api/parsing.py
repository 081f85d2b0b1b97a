"""The API's blueprint class: its arguments parser reads JSON bodies with the app's safe reader
(`webapp.json_input`), so a malformed, deeply nested or huge-number body is a 4xx problem."""

import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from webapp import json_input


class ApiParser(FlaskParser):
    """webargs' Flask parser reading JSON through `json_input.loads`."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        return json_input.loads(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the API's arguments parser."""

    ARGUMENTS_PARSER = ApiParser()
