"""Wallet addresses per chain address format: validation and the canonical form.

Formats: `base58-32` (Solana: base58 decoding to exactly 32 bytes), `evm` (`0x` + 40 hex;
mixed case must pass the EIP-55 checksum) and `bech32:<hrp>`. Every address is stored and
compared in its canonical form (DOMAIN.md): `evm` in EIP-55 mixed case, `bech32` in lower
case, `base58-32` exactly as given. Each failure says what is wrong: too long, wrong length,
bad character, bad checksum, wrong prefix.
"""

import bisect
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


#: The longest address of each format, checked before any decoding (a long base58 string
#: takes quadratic time to decode).
EVM_LENGTH = 42
BECH32_MAX_LENGTH = 90
BASE58_32_MAX_LENGTH = 44


def max_length(address_format: str) -> int:
    """The most characters an address of this format can have."""
    if address_format == "evm":
        return EVM_LENGTH
    if address_format == "base58-32":
        return BASE58_32_MAX_LENGTH
    if address_format.startswith("bech32:"):
        return BECH32_MAX_LENGTH
    raise AddressError(f"unknown address format {address_format!r}")


def canonical_address(address: str, address_format: str) -> str:
    """Check the address against its chain's format and return its canonical form.

    Surrounding whitespace is trimmed. `evm`: all-lower or all-upper hex becomes EIP-55
    mixed case, mixed case must already be EIP-55; `bech32`: all-upper becomes lower case,
    mixed case is refused (BIP-173); `base58-32`: as given. AddressError says what is wrong.
    """
    address = (address or "").strip()
    if not address:
        raise AddressError("address is empty")
    limit = max_length(address_format)
    if address_format == "evm" and not address.startswith("0x"):
        raise AddressError("wrong prefix: an EVM address starts with 0x")
    if len(address) > limit:
        raise AddressError(
            f"too long: {len(address)} characters, an address of format {address_format} "
            f"has at most {limit}"
        )
    if address_format == "base58-32":
        return _check_base58_32(address)
    if address_format == "evm":
        return _check_evm(address)
    return _check_bech32(address, address_format.split(":", 1)[1])


def canonical_if_valid(address: str, address_format: str) -> str:
    """The canonical form of a valid address; any other text comes back unchanged.

    For canonical data (staker rewards, stake events), whose staker addresses are the
    provider's and are not refused for their format: only a valid address has a canonical
    form, and only a valid address can be a partner's wallet.
    """
    try:
        return canonical_address(address, address_format)
    except AddressError:
        return address


_BASE58_CHARACTERS = frozenset(BASE58_ALPHABET)


#: 256**k in base58, k = 1 to 64, each as (digits, text). Base58's characters rise in the
#: order of their digits, so two numbers written with as many digits (no leading '1') compare
#: as their text, and a number needs more than k bytes exactly when it is at least 256**k.
_BYTE_BOUNDS = [
    (len(bound), bound)
    for bound in (base58.b58encode_int(256**k).decode("ascii") for k in range(1, 65))
]


def base58_decoded_length(text: str) -> int:
    """How many bytes `base58.b58decode(text)` gives, without building them: each leading
    '1' is a zero byte, and the rest is a big-endian number of as many bytes as it needs,
    found by comparing its text with those of the powers of 256 (`_BYTE_BOUNDS`).
    (b58decode builds its bytes by dividing by 256 one byte at a time: half of checking a
    100,000-row wallet file; even reading the number digit by digit was a third of it.)"""
    body = text.lstrip("1")
    zeros = len(text) - len(body)
    if not body:
        return zeros
    if len(body) > _BYTE_BOUNDS[-1][0]:
        return zeros + (base58.b58decode_int(body).bit_length() + 7) // 8
    return zeros + 1 + bisect.bisect_right(_BYTE_BOUNDS, (len(body), body))


def _check_base58_32(address: str) -> str:
    bad = sorted(set(address) - _BASE58_CHARACTERS)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise AddressError(f"bad character {shown}: not in the base58 alphabet")
    length = base58_decoded_length(address)
    if length != 32:
        raise AddressError(f"wrong length: decodes to {length} bytes, a Solana address is 32")
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
    checksummed = eip55_checksum(body)
    if body != body.lower() and body != body.upper() and body != checksummed:
        raise AddressError("bad checksum: the mixed-case letters do not match EIP-55")
    return "0x" + checksummed


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
    return lowered
