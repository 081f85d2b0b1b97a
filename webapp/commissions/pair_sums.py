"""The sums of one (agreement, period)'s stored rows, kept beside the pair
(`CommissionRunPeriod.sums`) when its lines and exclusions are written: its commission lines
per validator and component, its exclusions per reason. A run's page adds up a few dozen of
these instead of every line of the run. JSON, amounts as exact decimal text."""

import json
from decimal import Decimal

from webapp.money import MONEY, ZERO


def dump(lines, exclusions: dict) -> str:
    """The sums of a pair's `lines` (commission lines as computed) and its `exclusions` as
    stored ({(wallet, validator, reason): [count, held back, ...]})."""
    slices: dict[tuple[str, str], list] = {}
    add = MONEY.add
    for line in lines:
        key = (line.validator_key, str(line.revenue_component))
        entry = slices.get(key)
        if entry is None:
            slices[key] = [1, line.base_amount_native, line.commission_amount_native]
        else:
            entry[0] += 1
            entry[1] = add(entry[1], line.base_amount_native)
            entry[2] = add(entry[2], line.commission_amount_native)
    held: dict[str, list] = {}
    for (_, _, reason), (count, amount, *_) in exclusions.items():
        entry = held.setdefault(reason, [0, ZERO])
        entry[0] += count
        entry[1] = add(entry[1], amount)
    return json.dumps(
        {
            "lines": [
                [validator, component, count, str(base), str(commission)]
                for (validator, component), (count, base, commission) in sorted(slices.items())
            ],
            "held": [
                [reason, count, str(amount)] for reason, (count, amount) in sorted(held.items())
            ],
        }
    )


def load(text: str) -> tuple[list[tuple], list[tuple]]:
    """(validator, component, lines, base, commission) per slice and (reason, exclusions,
    held back) per reason, from what `dump` wrote."""
    sums = json.loads(text)
    return (
        [
            (v, c, n, Decimal(base), Decimal(commission))
            for v, c, n, base, commission in sums["lines"]
        ],
        [(reason, n, Decimal(amount)) for reason, n, amount in sums["held"]],
    )
