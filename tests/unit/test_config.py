"""Config errors name the key and say how to fix it (docs/style.md rule 6)."""

import os
import secrets
import tomllib
from pathlib import Path

import pytest

from daemon.config import load, parse_settings
from daemon.core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
STRONG = secrets.token_urlsafe(32)


def minimal() -> dict:
    return {
        "imap": {"host": "imap.test", "username": "support@desk.test", "password": "x"},
        "smtp": {"host": "smtp.test", "from_address": "support@desk.test"},
        "service": {"reply_token_secret": STRONG},
    }


def test_example_config_is_valid(tmp_path):
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    # The example points at password files that do not exist here.
    data["imap"].pop("password_file")
    data["smtp"].pop("password_file")
    # Its placeholder secret is refused (test_secrets.py); with a real one it is valid.
    with pytest.raises(ConfigError, match="oneassist secret"):
        parse_settings(data, tmp_path)
    data["service"]["reply_token_secret"] = STRONG
    s = parse_settings(data, tmp_path)
    assert s.imap.port == 993 and s.smtp.security == "starttls"
    assert [t.code for t in s.tariffs] == ["basis", "optimum", "unlimited", "one", "task"]
    assert s.tariff("task").billing_period == "none" and s.tariff("task").quota == 1
    assert s.tariff("one").dedicated and s.tariff("unlimited").quota is None
    assert str(s.tariff("basis").price) == "4900.00"
    assert s.sla.first_response_minutes == 15


def test_defaults(tmp_path):
    s = parse_settings(minimal(), tmp_path)
    assert s.imap.idle and s.imap.folder == "INBOX"
    assert s.smtp.bounce_address == "support+bounces@desk.test"
    assert s.store_url == f"sqlite:///{tmp_path / 'data' / 'oneassist.db'}"
    assert s.service.language == "ru" and s.service.ticket_prefix == "OA"


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d["imap"].pop("host"), "imap.host is missing"),
    (lambda d: d["imap"].update(port="993"), "imap.port must be an integer"),
    (lambda d: d["imap"].update(port=70000), "imap.port must be a TCP port"),
    (lambda d: d["imap"].update(security="tls"), "imap.security = 'tls' is not one of"),
    (lambda d: d["imap"].update(poll_seconds=0), "imap.poll_seconds must be greater than 0"),
    (lambda d: d["imap"].update(idle="yes"), "imap.idle must be true or false"),
    (lambda d: d["imap"].update(pasword="x"), "unknown key imap.pasword"),
    (lambda d: d["smtp"].update(from_address="nobody"), "smtp.from_address = 'nobody' is not an email"),
    (lambda d: d["service"].update(timezone="Mars/Base"), "service.timezone = 'Mars/Base'"),
    (lambda d: d["service"].update(reply_token_secret="short"), "service.reply_token_secret is refused"),
    (lambda d: d.update(imapp={}), "unknown section [imapp]"),
    (lambda d: d.update(staff=[{"email": "a@b.c", "name": "A", "role": "boss"}]), "staff[0].role = 'boss'"),
    (lambda d: d.update(tariffs=[{"code": "b", "name": "B", "price": "4.9.0"}]), "tariffs[0].price"),
    (lambda d: d.update(store={"url": "mysql://x"}), "store.url = 'mysql://x'"),
    (lambda d: d.update(sla={"first_response_minutes": 5, "reminder_minutes": 10}), "sla.reminder_minutes"),
    (lambda d: d["imap"].pop("password") and d["imap"].update(password_file="/nonexistent/pw"), "imap.password_file: cannot read"),
    (lambda d: d["imap"].pop("password") and d["imap"].update(password_command="false"), "imap.password_command: the command exited"),
])
def test_errors_name_the_key(tmp_path, mutate, key):
    data = minimal()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_settings(data, tmp_path)
    assert key in str(err.value)


def test_password_sources(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "pw").chmod(0o600)
    data = minimal()
    data["imap"].pop("password")
    data["imap"]["password_file"] = str(tmp_path / "pw")
    data["smtp"]["password_command"] = "echo fromcmd"
    s = parse_settings(data, tmp_path)
    assert s.imap.password == "s3cret" and s.smtp.password == "fromcmd"
    # Secrets never show in a repr (they end up in tracebacks and logs).
    assert "s3cret" not in repr(s) and "fromcmd" not in repr(s)
    data["imap"]["password"] = "also"
    with pytest.raises(ConfigError, match="set only one of"):
        parse_settings(data, tmp_path)


def test_world_readable_config_refused(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[imap]\nhost="h"\nusername="u"\n[smtp]\nhost="h"\nfrom_address="a@b.c"\n'
                    f'[service]\nreply_token_secret="{STRONG}"\n')
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load(path)
    os.chmod(path, 0o600)
    assert load(path).imap.host == "h"


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[imap\n")
    bad.chmod(0o600)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)
