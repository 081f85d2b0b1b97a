"""Chains: the networks validators run on, and their address formats."""

from flask import Blueprint

bp = Blueprint("chains", __name__, url_prefix="/chains", cli_group="chains")
