"""The sandbox's pure parts: where a plus-address is delivered, how its banner names the command."""

from __future__ import annotations

import pytest

from daemon.sandbox.client_side import command_words, shell_command
from daemon.sandbox.smtp import mailbox_of


@pytest.mark.parametrize(("rcpt", "mailbox"), [
    ("support+OA-1.hwuicwmhmxi6mvxx@desk.test", "support@desk.test"),
    ("Support+OA-12.x+y@Desk.Test", "support@desk.test"),
    ("support+bounces@desk.test", "support@desk.test"),
    ("ivan@client.test", "ivan@client.test"),
    ("+only@desk.test", "+only@desk.test"),
])
def test_a_plus_address_is_delivered_to_its_user_as_a_real_mta_does(rcpt, mailbox):
    assert mailbox_of(rcpt) == mailbox


def test_without_a_delimiter_the_address_is_its_own_mailbox():
    assert mailbox_of("support+OA-1.x@desk.test", recipient_delimiter="") == "support+oa-1.x@desk.test"


@pytest.mark.parametrize(("argv0", "words"), [
    (".venv/bin/oneassist", [".venv/bin/oneassist"]),
    ("oneassist", ["oneassist"]),
    ("/srv/desk/.venv/bin/oneassist", ["/srv/desk/.venv/bin/oneassist"]),
    ("/srv/desk/daemon/__main__.py", ["/srv/desk/.venv/bin/python", "-m", "daemon"]),
])
def test_the_banner_names_the_command_as_it_was_started(argv0, words):
    assert command_words(argv0, "/srv/desk/.venv/bin/python") == words


def test_printed_commands_are_quoted_for_the_shell():
    assert (shell_command("sandbox", "--dir", "/tmp/my sandbox", argv0="oneassist")
            == "oneassist sandbox --dir '/tmp/my sandbox'")
