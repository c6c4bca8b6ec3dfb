"""daemon/adapters/oauth2.py: what a token command may print, and when it is run again."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest

from daemon.adapters.oauth2 import TokenSource, parse_token_output
from daemon.clock import FrozenClock
from daemon.core.errors import PermanentError

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_bare_and_json_outputs():
    assert parse_token_output("ya29.abc\n", NOW) == ("ya29.abc", NOW + timedelta(hours=1))
    assert parse_token_output('{"access_token": "t1", "expires_in": 600}', NOW) == ("t1", NOW + timedelta(minutes=10))
    token, expires = parse_token_output(f'{{"access_token": "t2", "expires_at": {NOW.timestamp() + 60:.0f}}}', NOW)
    assert token == "t2" and expires == NOW + timedelta(seconds=60)
    for bad in ("", "  \n", '{"error": "invalid_grant"}', '{"access_token": "a b"}'):
        with pytest.raises(ValueError):
            parse_token_output(bad, NOW)


def counting_command(tmp_path) -> str:
    script = tmp_path / "tok.py"
    script.write_text("import pathlib, sys\n"
                      f"p = pathlib.Path({str(tmp_path / 'runs')!r})\n"
                      "n = int(p.read_text()) + 1 if p.exists() else 1\n"
                      "p.write_text(str(n))\n"
                      "print('{\"access_token\": \"tok%d\", \"expires_in\": 3600}' % n)\n")
    return f"{sys.executable} {script}"


def test_cached_until_five_minutes_before_expiry_and_replaced_when_refused(tmp_path):
    clock = FrozenClock(NOW)
    reports = []
    source = TokenSource("smtp", counting_command(tmp_path), clock.now, lambda *a: reports.append(a))
    assert source.get() == "tok1"
    clock.advance(minutes=54)
    assert source.get() == "tok1"
    clock.advance(minutes=2)  # 56 minutes: inside the margin
    assert source.get() == "tok2"
    source.invalidate("tok1")  # an old token refused: the current one stays
    assert source.get() == "tok2"
    source.invalidate("tok2")
    assert source.get() == "tok3"
    assert [r[:2] for r in reports] == [("smtp", True)] * 3


def test_a_failing_command_raises_and_reports_without_its_output(tmp_path):
    reports = []
    command = f"{sys.executable} -c \"import sys; print('refresh-token-SECRET', file=sys.stderr); sys.exit(3)\""
    source = TokenSource("imap", command, lambda: NOW, lambda *a: reports.append(a))
    with pytest.raises(PermanentError, match="imap.oauth2_token_command failed: exited with 3"):
        source.get()
    assert reports == [("imap", False, None, "imap.oauth2_token_command failed: exited with 3")]
