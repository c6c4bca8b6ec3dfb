"""Per-ticket reply tokens: minted, verified in constant time, refused when touched (docs/reliability.md case 24)."""

import pytest

from parsers.tokens import reply_address, ticket_key_from_address, ticket_key_from_recipients

SECRET = b"0123456789abcdef0123456789abcdef"
BASE = "support@desk.example"


def test_reply_address_shape():
    address = reply_address(BASE, "OA-1042", SECRET)
    local, _, domain = address.partition("@")
    assert domain == "desk.example"
    assert local.startswith("support+OA-1042.")
    mac = local.rsplit(".", 1)[1]
    assert len(mac) == 16 and mac == mac.lower()
    assert len(local) <= 64


def test_round_trip_and_case_insensitivity():
    address = reply_address(BASE, "OA-1042", SECRET)
    assert ticket_key_from_address(address, BASE, SECRET) == "OA-1042"
    assert ticket_key_from_address(address.lower(), BASE, SECRET) == "OA-1042"
    assert ticket_key_from_address(address.upper(), "SUPPORT@DESK.EXAMPLE", SECRET) == "OA-1042"
    assert ticket_key_from_address(f"Desk <{address}>", BASE, SECRET) == "OA-1042"


def test_mac_depends_on_key_base_and_secret():
    macs = {
        reply_address(BASE, "OA-1042", SECRET).split(".")[-2],
        reply_address(BASE, "OA-1043", SECRET).split(".")[-2],
        reply_address("help@desk.example", "OA-1042", SECRET).split(".")[-2],
        reply_address(BASE, "OA-1042", SECRET + b"x").split(".")[-2],
    }
    assert len(macs) == 4


def test_every_single_character_change_of_the_mac_is_refused():
    address = reply_address(BASE, "OA-1042", SECRET)
    local, _, domain = address.partition("@")
    prefix, mac = local.rsplit(".", 1)
    for i, char in enumerate(mac):
        for other in "a7z2":
            if other == char:
                continue
            forged = f"{prefix}.{mac[:i]}{other}{mac[i + 1 :]}@{domain}"
            assert ticket_key_from_address(forged, BASE, SECRET) is None, forged


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.replace("OA-1042", "OA-1043"),  # the token moved to another ticket
        lambda a: a.replace("OA-1042", "OA-10420"),
        lambda a: a.replace("@desk.example", "@evil.example"),  # another domain
        lambda a: a.replace("support+", "sales+"),  # another mailbox at our domain
        lambda a: a.split("@")[0][:-1] + "@desk.example",  # truncated mac
        lambda a: a.split("@")[0] + "a@desk.example",  # one extra character
        lambda a: a.split(".")[0] + "@desk.example",  # mac missing
        lambda a: a.replace("+", "-"),
        lambda a: "support@desk.example",
        lambda a: "",
        lambda a: "garbage",
    ],
)
def test_tampered_truncated_or_foreign_addresses_are_refused(mutate):
    address = reply_address(BASE, "OA-1042", SECRET)
    assert ticket_key_from_address(mutate(address), BASE, SECRET) is None


def test_other_secret_or_empty_secret_refuses():
    address = reply_address(BASE, "OA-1042", SECRET)
    assert ticket_key_from_address(address, BASE, b"another-secret-entirely") is None
    assert ticket_key_from_address(address, BASE, b"") is None


def test_base_with_a_detail_is_replaced_by_the_token():
    address = reply_address("support+desk@desk.example", "OA-7", SECRET)
    assert address.startswith("support+OA-7.")
    assert ticket_key_from_address(address, "support+desk@desk.example", SECRET) == "OA-7"
    assert ticket_key_from_address(address, BASE, SECRET) == "OA-7"


def test_reply_address_refuses_bad_input():
    with pytest.raises(ValueError):
        reply_address(BASE, "OA-1042", b"")
    with pytest.raises(ValueError):
        reply_address(BASE, "OA 1042\r\nBcc: x@y", SECRET)
    with pytest.raises(ValueError):
        reply_address("not an address", "OA-1", SECRET)


def test_lower_case_key_is_accepted_and_returned_canonical():
    address = reply_address(BASE, "oa-5", SECRET)
    assert ticket_key_from_address(address, BASE, SECRET) == "OA-5"
    assert ticket_key_from_address(reply_address(BASE, "OA-5", SECRET), BASE, SECRET) == "OA-5"


def test_from_recipients_finds_the_valid_token_among_others():
    good = reply_address(BASE, "OA-9", SECRET)
    forged = reply_address(BASE, "OA-8", b"attacker-secret-0000")
    recipients = ("friend@example.com", forged, "support@desk.example", good)
    assert ticket_key_from_recipients(recipients, BASE, SECRET) == "OA-9"
    assert ticket_key_from_recipients((forged, "x@y.example"), BASE, SECRET) is None
    assert ticket_key_from_recipients((), BASE, SECRET) is None
