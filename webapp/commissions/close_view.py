"""What the month-end pages show about runs beside their own figures, read in bulk for a
list of runs: each run's total (`totals`), which committed runs are out of date and why,
and which locked runs late data has reached, with the difference (`staleness`)."""

import uuid
from dataclasses import dataclass, field

from webapp.commissions.staleness import LateData, late_changes, stale_runs
from webapp.commissions.totals import RunTotal, run_totals


@dataclass
class RunStates:
    """Per run id: its total, what made it stale, the late data on its locked periods."""

    totals: dict[uuid.UUID, RunTotal] = field(default_factory=dict)
    stale: dict[uuid.UUID, list[str]] = field(default_factory=dict)
    late: dict[uuid.UUID, LateData] = field(default_factory=dict)


def run_states(runs, staleness: bool = True) -> RunStates:
    """The totals of `runs` and, with `staleness`, which are stale or have late data."""
    runs = list(runs)
    states = RunStates(totals=run_totals(r.run_id for r in runs))
    if staleness:
        states.stale = stale_runs(runs)
        states.late = late_changes(runs)
    return states
