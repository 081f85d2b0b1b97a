"""Shared pieces of the JSON API tests: tokens as headers, a small world, CSV bodies."""

import csv
import io
import os
from types import SimpleNamespace

from webapp.addresses import eip55_checksum
from webapp.api.tokens import create_token
from webapp.chains.service import add_chain
from webapp.partners.service import create_partner

PERIODS_CSV = (
    "chain_id,label,start_time,end_time\n"
    "solana,800,2025-10-01T00:00:00Z,2025-10-03T00:00:00Z\n"
    "solana,801,2025-10-03T00:00:00Z,2025-10-05T00:00:00Z\n"
    "solana,802,2025-10-05T00:00:00Z,2025-10-07T00:00:00Z\n"
)


def evm_address() -> str:
    """A fresh, valid EIP-55 checksummed address."""
    return "0x" + eip55_checksum(os.urandom(20).hex())


def wallet_csv(rows, header=("wallet_address", "chain_id", "introduced_date", "notes")) -> bytes:
    """CSV bytes of a header and rows, LF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def make_world():
    """Two chains and two partners."""
    add_chain("solana", "Solana", "SOL", 9, "base58-32")
    add_chain("ethereum", "Ethereum", "ETH", 18, "evm")
    return SimpleNamespace(acme=create_partner("Acme Wallet"), beta=create_partner("Beta Exchange"))


def bearer(user, scope="write", name="test") -> dict:
    """Authorization header of a new token of `user`."""
    return {"Authorization": "Bearer " + create_token(user, name, scope).secret}
