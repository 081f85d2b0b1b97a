"""Agreements and their commission rules."""

from flask import Blueprint

bp = Blueprint("agreements", __name__, url_prefix="/agreements", cli_group="agreements")
