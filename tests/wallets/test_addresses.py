"""Wallet address validation per chain format: each format valid, and each kind of invalid."""

import base58
import bech32
import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.addresses import (
    BASE58_ALPHABET,
    AddressError,
    base58_decoded_length,
    canonical_address,
    canonical_if_valid,
    check_format,
    eip55_checksum,
    max_length,
)

SOLANA_SYSTEM = "11111111111111111111111111111111"  # 32 zero bytes
WRAPPED_SOL = "So11111111111111111111111111111111111111112"
# The EIP-55 specification's own examples.
EIP55_EXAMPLES = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


def cosmos_address(payload: bytes = bytes(range(20)), hrp: str = "cosmos") -> str:
    return bech32.bech32_encode(hrp, bech32.convertbits(payload, 8, 5))


def refusal(address: str, address_format: str) -> str:
    with pytest.raises(AddressError) as caught:
        canonical_address(address, address_format)
    return str(caught.value)


# --- Solana: base58 that decodes to exactly 32 bytes --------------------------------------


@pytest.mark.parametrize("address", [SOLANA_SYSTEM, WRAPPED_SOL, base58.b58encode(b"\xff" * 32)])
def test_base58_32_accepts_32_byte_keys(address):
    address = address.decode() if isinstance(address, bytes) else address
    assert canonical_address(address, "base58-32") == address


def test_base58_32_trims_surrounding_whitespace():
    assert canonical_address(f"  {WRAPPED_SOL}\t\n", "base58-32") == WRAPPED_SOL


@pytest.mark.parametrize("bad", ["0", "O", "I", "l", "+", " "])
def test_base58_32_names_a_bad_character(bad):
    message = refusal(WRAPPED_SOL[:10] + bad + WRAPPED_SOL[11:], "base58-32")
    assert message.startswith("bad character")
    assert repr(bad) in message


@pytest.mark.parametrize(
    ("raw", "decoded"), [(bytes(31), 31), (b"\x01" * 33, 33), (b"\x07" * 20, 20)]
)
def test_base58_32_refuses_other_lengths(raw, decoded):
    message = refusal(base58.b58encode(raw).decode(), "base58-32")
    assert message.startswith("wrong length")
    assert f"{decoded} bytes" in message


@given(
    st.binary(max_size=40).map(lambda raw: base58.b58encode(raw).decode())
    | st.text(alphabet=BASE58_ALPHABET, max_size=60)
)
def test_the_decoded_length_is_the_librarys(text):
    """Counted without building the bytes, the length is b58decode's own, for any base58
    text: leading '1's (zero bytes) included, all '1's, empty."""
    assert base58_decoded_length(text) == len(base58.b58decode(text))


@pytest.mark.parametrize(
    ("raw", "length"), [(b"", 0), (bytes(3), 3), (bytes(2) + b"\x01", 3), (b"\x80" + bytes(31), 32)]
)
def test_the_decoded_length_by_hand(raw, length):
    assert base58_decoded_length(base58.b58encode(raw).decode()) == length


@pytest.mark.parametrize("size", [1, 2, 31, 32, 33, 63, 64, 65, 80])
def test_the_decoded_length_on_either_side_of_a_power_of_256(size):
    """256**size - 1 fills `size` bytes and 256**size needs one more (past 64 bytes the
    length is counted from the number itself): worked out from the bytes."""
    largest = b"\xff" * size
    smallest_longer = b"\x01" + bytes(size)
    assert base58_decoded_length(base58.b58encode(largest).decode()) == size
    assert base58_decoded_length(base58.b58encode(smallest_longer).decode()) == size + 1
    assert base58_decoded_length("11" + base58.b58encode(largest).decode()) == size + 2


def test_empty_address_is_refused():
    assert refusal("   ", "base58-32") == "address is empty"


# --- EVM: 0x + 40 hex, mixed case must pass EIP-55 -----------------------------------------


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_evm_accepts_checksummed_addresses_as_given(address):
    assert canonical_address(address, "evm") == address


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_evm_single_case_addresses_become_eip55(address):
    lower = "0x" + address[2:].lower()
    upper = "0x" + address[2:].upper()
    assert canonical_address(lower, "evm") == address
    assert canonical_address(upper, "evm") == address
    assert canonical_address(f" {lower}\n", "evm") == address


def test_evm_digits_only_address_is_its_own_canonical_form():
    digits = "0x" + "1234567890" * 4
    assert canonical_address(digits, "evm") == digits


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_eip55_checksum_matches_the_specification(address):
    # keccak-256, not SHA3-256: the two give different digests and different casings.
    assert eip55_checksum(address[2:].lower()) == address[2:]


def test_evm_refuses_a_wrong_checksum():
    good = EIP55_EXAMPLES[0]
    flipped = good[:3] + good[3].swapcase() + good[4:]
    assert refusal(flipped, "evm").startswith("bad checksum")


@pytest.mark.parametrize("address", ["5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0X" + "ab" * 20])
def test_evm_refuses_a_missing_0x(address):
    assert refusal(address, "evm").startswith("wrong prefix")


@pytest.mark.parametrize(("digits", "count"), [("a" * 39, 39), ("", 0)])
def test_evm_refuses_other_lengths(digits, count):
    message = refusal("0x" + digits, "evm")
    assert message.startswith("wrong length")
    assert f"{count} hex digits" in message


def test_evm_names_a_non_hex_character():
    message = refusal("0x" + "g" + "a" * 39, "evm")
    assert message.startswith("bad character")
    assert "'g'" in message


# --- bech32 with the chain's prefix --------------------------------------------------------


@pytest.mark.parametrize("payload", [bytes(range(20)), b"\x42" * 32])
def test_bech32_accepts_20_and_32_byte_payloads(payload):
    address = cosmos_address(payload)
    assert canonical_address(address, "bech32:cosmos") == address
    # Upper case is valid bech32 too; the canonical form is lower case.
    assert canonical_address(address.upper(), "bech32:cosmos") == address


def test_bech32_refuses_another_prefix():
    message = refusal(cosmos_address(hrp="osmo"), "bech32:cosmos")
    assert message.startswith("wrong prefix")
    assert "'cosmos'" in message and "'osmo'" in message


def test_bech32_refuses_an_address_without_separator():
    assert refusal("cosmosqqqsyqcyq5rqwzqfpg9", "bech32:cosmos").startswith("wrong prefix")


def test_bech32_refuses_mixed_case():
    address = cosmos_address()
    mixed = address[:-3] + address[-3:].upper()
    assert refusal(mixed, "bech32:cosmos").startswith("bad character")


@pytest.mark.parametrize("bad", ["b", "i", "o"])
def test_bech32_names_a_character_outside_its_charset(bad):
    address = cosmos_address()
    message = refusal(address[:10] + bad + address[11:], "bech32:cosmos")
    assert message.startswith("bad character")
    assert repr(bad) in message


def test_bech32_refuses_a_bad_checksum():
    address = cosmos_address()
    last = "q" if address[-1] != "q" else "p"
    assert refusal(address[:-1] + last, "bech32:cosmos").startswith("bad checksum")


def test_bech32_refuses_a_payload_of_the_wrong_length():
    message = refusal(cosmos_address(bytes(16)), "bech32:cosmos")
    assert message.startswith("wrong length")


def test_bech32_refuses_too_short_data():
    assert refusal("cosmos1qqq", "bech32:cosmos").startswith("wrong length")


# --- too long, refused before any decoding ------------------------------------------------


@pytest.mark.parametrize(
    ("address_format", "limit", "address"),
    [("evm", 42, "0x" + "a" * 41), ("base58-32", 44, "z" * 45), ("bech32:cosmos", 90, "q" * 91)],
)
def test_an_address_longer_than_its_format_allows_is_refused(address_format, limit, address):
    message = refusal(address, address_format)
    assert message == (
        f"too long: {limit + 1} characters, an address of format {address_format} "
        f"has at most {limit}"
    )


def test_a_very_long_base58_address_is_refused_without_decoding(monkeypatch):
    def no_decoding(_):
        raise AssertionError("decoded")

    monkeypatch.setattr(base58, "b58decode", no_decoding)
    assert refusal("z" * 130_000, "base58-32").startswith("too long: 130000 characters")


def test_evm_refuses_41_hex_digits_as_too_long():
    assert refusal("0x" + "a" * 41, "evm").startswith("too long: 43 characters")


# --- valid addresses of canonical data -----------------------------------------------------


def test_canonical_if_valid_canonicalises_valid_addresses_and_keeps_the_rest():
    lower = EIP55_EXAMPLES[0].lower()
    assert canonical_if_valid(lower, "evm") == EIP55_EXAMPLES[0]
    assert canonical_if_valid(cosmos_address().upper(), "bech32:cosmos") == cosmos_address()
    assert canonical_if_valid("S1", "base58-32") == "S1"
    flipped = EIP55_EXAMPLES[0][:3] + EIP55_EXAMPLES[0][3].swapcase() + EIP55_EXAMPLES[0][4:]
    assert canonical_if_valid(flipped, "evm") == flipped


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("address_format", ["base58-32", "evm", "bech32:cosmos", "bech32:osmo"])
def test_known_formats_are_accepted(address_format):
    assert check_format(address_format) == address_format


@pytest.mark.parametrize("address_format", ["base58", "bech32:", "bech32:Cosmos", "ss58", ""])
def test_unknown_formats_are_refused(address_format):
    with pytest.raises(ValueError, match="unknown address format"):
        check_format(address_format)


def test_an_address_of_an_unknown_format_is_refused():
    assert refusal(WRAPPED_SOL, "ss58").startswith("unknown address format")


# --- properties ----------------------------------------------------------------------------

FORMATS = ["evm", "base58-32", "bech32:cosmos"]


@given(st.binary(min_size=20, max_size=20))
def test_every_spelling_of_an_evm_address_has_one_canonical_form(raw):
    canonical = canonical_address("0x" + raw.hex(), "evm")
    for spelling in (canonical, canonical.lower(), "0x" + canonical[2:].upper()):
        assert canonical_address(spelling, "evm") == canonical
    assert canonical == "0x" + eip55_checksum(raw.hex())


@given(st.binary(min_size=20, max_size=20) | st.binary(min_size=32, max_size=32))
def test_every_spelling_of_a_bech32_address_has_one_canonical_form(raw):
    canonical = canonical_address(cosmos_address(raw), "bech32:cosmos")
    assert canonical == canonical.lower() == cosmos_address(raw)
    assert canonical_address(canonical.upper(), "bech32:cosmos") == canonical


@given(st.text(max_size=200), st.sampled_from(FORMATS))
def test_any_text_is_an_address_or_an_address_error(text, address_format):
    try:
        canonical = canonical_address(text, address_format)
    except AddressError:
        assert canonical_if_valid(text, address_format) == text
        return
    assert len(canonical) <= max_length(address_format)
    assert canonical_address(canonical, address_format) == canonical
    assert canonical_if_valid(text, address_format) == canonical
