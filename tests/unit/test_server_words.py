"""Server replies in messages for people carry the server's words, never a Python bytes repr (issue 15)."""

from __future__ import annotations

import imaplib

import pytest
from imapclient.exceptions import LoginError

from daemon.adapters.imap import _short


@pytest.mark.parametrize("exc", [
    LoginError(b"[AUTHENTICATIONFAILED] Authentication failed."),
    LoginError("b'[AUTHENTICATIONFAILED] Authentication failed.'"),
    imaplib.IMAP4.error("b'[AUTHENTICATIONFAILED] Authentication failed.'"),
])
def test_the_servers_words_without_a_bytes_repr(exc):
    assert _short(exc) == "[AUTHENTICATIONFAILED] Authentication failed."


def test_a_reply_on_several_lines_becomes_one():
    assert _short(RuntimeError(b"NO\r\n[UNAVAILABLE] try later")) == "NO [UNAVAILABLE] try later"
