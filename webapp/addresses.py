"""Wallet address validation per chain address format.

Formats: `base58-32` (Solana: base58 decoding to exactly 32 bytes), `evm` (`0x` + 40 hex;
mixed case must pass the EIP-55 checksum; stored as given) and `bech32:<hrp>`.
Each failure says what is wrong: wrong length, bad character, bad checksum, wrong prefix.
"""

import re

import base58
import bech32
from eth_hash.auto import keccak

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_HEX = re.compile(r"^[0-9a-fA-F]*$")


class AddressError(ValueError):
    """An address that is not valid for its chain; the message says why."""


def check_format(address_format: str) -> str:
    """Return the format if it is one this tool knows, else raise ValueError."""
    if address_format in ("base58-32", "evm"):
        return address_format
    if address_format.startswith("bech32:"):
        hrp = address_format.split(":", 1)[1]
        if hrp and hrp == hrp.lower() and all(33 <= ord(c) <= 126 for c in hrp):
            return address_format
    raise ValueError(
        f"unknown address format {address_format!r}: use base58-32, evm or bech32:<prefix>"
    )


def normalise_address(address: str, address_format: str) -> str:
    """Trim the address and check it against the format; returns the address to store."""
    address = (address or "").strip()
    if not address:
        raise AddressError("address is empty")
    if address_format == "base58-32":
        return _check_base58_32(address)
    if address_format == "evm":
        return _check_evm(address)
    if address_format.startswith("bech32:"):
        return _check_bech32(address, address_format.split(":", 1)[1])
    raise AddressError(f"unknown address format {address_format!r}")


def _check_base58_32(address: str) -> str:
    bad = sorted({c for c in address if c not in BASE58_ALPHABET})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise AddressError(f"bad character {shown}: not in the base58 alphabet")
    decoded = base58.b58decode(address)
    if len(decoded) != 32:
        raise AddressError(f"wrong length: decodes to {len(decoded)} bytes, a Solana address is 32")
    return address


def eip55_checksum(hex40: str) -> str:
    """The EIP-55 mixed-case form of 40 hex digits (no `0x`)."""
    lower = hex40.lower()
    digest = keccak(lower.encode("ascii")).hex()
    return "".join(
        c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower, digest[:40], strict=True)
    )


def _check_evm(address: str) -> str:
    if not address.startswith("0x"):
        raise AddressError("wrong prefix: an EVM address starts with 0x")
    body = address[2:]
    if not _HEX.match(body):
        bad = sorted({c for c in body if c not in "0123456789abcdefABCDEF"})
        raise AddressError(f"bad character {', '.join(repr(c) for c in bad)}: not hexadecimal")
    if len(body) != 40:
        raise AddressError(f"wrong length: {len(body)} hex digits after 0x, expected 40")
    if body != body.lower() and body != body.upper() and body != eip55_checksum(body):
        raise AddressError("bad checksum: the mixed-case letters do not match EIP-55")
    return address


def _check_bech32(address: str, hrp: str) -> str:
    if address != address.lower() and address != address.upper():
        raise AddressError("bad character: bech32 does not allow mixed case")
    lowered = address.lower()
    if "1" not in lowered:
        raise AddressError(f"wrong prefix: expected {hrp}1…")
    found_hrp, _, data = lowered.rpartition("1")
    if found_hrp != hrp:
        raise AddressError(f"wrong prefix: expected {hrp!r}, found {found_hrp!r}")
    bad = sorted({c for c in data if c not in BECH32_CHARSET})
    if bad:
        raise AddressError(f"bad character {', '.join(repr(c) for c in bad)}: not in bech32")
    if len(data) < 6 or len(lowered) > 90:
        raise AddressError(f"wrong length: {len(lowered)} characters")
    decoded_hrp, words = bech32.bech32_decode(lowered)
    if decoded_hrp is None or words is None:
        raise AddressError("bad checksum")
    payload = bech32.convertbits(words, 5, 8, False)
    if payload is None or len(payload) not in (20, 32):
        raise AddressError("wrong length: the payload is neither 20 nor 32 bytes")
    return address
