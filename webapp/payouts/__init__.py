"""Payouts: what each partner is owed per token, paying it, and the statements."""

from flask import Blueprint

bp = Blueprint("payouts", __name__, url_prefix="/payouts", cli_group="payouts")
