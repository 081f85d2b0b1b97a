"""Shared pieces of the JSON API tests: tokens as headers, a small world, CSV bodies."""

import csv
import io

from tests.worlds import two_partners
from webapp.api.tokens import create_token

PERIODS_CSV = (
    "chain_id,label,start_time,end_time\n"
    "solana,800,2025-10-01T00:00:00Z,2025-10-03T00:00:00Z\n"
    "solana,801,2025-10-03T00:00:00Z,2025-10-05T00:00:00Z\n"
    "solana,802,2025-10-05T00:00:00Z,2025-10-07T00:00:00Z\n"
)


def wallet_csv(rows, header=("wallet_address", "chain_id", "introduced_date", "notes")) -> bytes:
    """CSV bytes of a header and rows, LF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def make_world():
    """Solana, Ethereum and two partners."""
    return two_partners("solana", "ethereum")


def bearer(user, scope="write", name="test") -> dict:
    """Authorization header of a new token of `user`."""
    return {"Authorization": "Bearer " + create_token(user, name, scope).secret}
