"""The commission services in one place for callers: inputs (loading), runs (preview,
commit and the run lifecycle) and export (CSV rows)."""

from webapp.commissions.export import EXPORT_HEADER, export_rows
from webapp.commissions.inputs import compute_agreement, terms_of
from webapp.commissions.runs import (
    AgreementOutcome,
    CommissionError,
    Computation,
    check_range,
    commit,
    preview,
)

__all__ = [
    "EXPORT_HEADER",
    "AgreementOutcome",
    "CommissionError",
    "Computation",
    "check_range",
    "commit",
    "compute_agreement",
    "export_rows",
    "preview",
    "terms_of",
]
