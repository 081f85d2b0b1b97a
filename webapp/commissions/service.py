"""The commission services in one place for callers: inputs (loading), runs (preview,
commit, approve, reopen, pay, true-ups), export (CSV rows) and queries (reads for pages)."""

from webapp.commissions.export import EXPORT_HEADER, export_rows
from webapp.commissions.inputs import compute_agreement, terms_of
from webapp.commissions.insight import run_sums
from webapp.commissions.lifecycle import (
    CommissionError,
    approve_run,
    approve_runs,
    check_range,
    pay_run,
    pay_runs,
    reopen_run,
    reopen_runs,
    runs_within,
)
from webapp.commissions.queries import (
    run_component_totals,
    run_exclusions_by_wallet,
    run_lines,
    run_wallet_line_counts,
)
from webapp.commissions.results import AgreementOutcome, Computation, TokenTotal, preview
from webapp.commissions.runs import (
    Difference,
    changes_since_approval,
    commit,
    find_user,
    locked_differences,
)

__all__ = [
    "EXPORT_HEADER",
    "AgreementOutcome",
    "CommissionError",
    "Computation",
    "Difference",
    "TokenTotal",
    "approve_run",
    "approve_runs",
    "changes_since_approval",
    "check_range",
    "commit",
    "compute_agreement",
    "export_rows",
    "find_user",
    "locked_differences",
    "pay_run",
    "pay_runs",
    "preview",
    "reopen_run",
    "reopen_runs",
    "run_component_totals",
    "run_sums",
    "run_exclusions_by_wallet",
    "run_lines",
    "run_wallet_line_counts",
    "runs_within",
    "terms_of",
]
