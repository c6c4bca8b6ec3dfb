"""[store] lease_seconds and fetch_lock_retry_seconds: defaults, and errors that name the key."""

import pytest

from daemon.config import parse_settings
from daemon.core.errors import ConfigError
from tests.unit.test_config import minimal


def test_lease_defaults(tmp_path):
    leases = parse_settings(minimal(), tmp_path).leases
    assert (leases.lease_seconds, leases.fetch_lock_retry_seconds) == (120, 2.0)


def test_leases_are_read_from_store(tmp_path):
    data = minimal()
    data["store"] = {"url": "postgresql://desk@db.internal/desk", "lease_seconds": 30,
                     "fetch_lock_retry_seconds": 0.5}
    leases = parse_settings(data, tmp_path).leases
    assert (leases.lease_seconds, leases.fetch_lock_retry_seconds) == (30, 0.5)


@pytest.mark.parametrize(("key", "value", "says"), [
    ("lease_seconds", 2, "store.lease_seconds must be at least 5"),
    ("lease_seconds", "2m", "store.lease_seconds must be"),
    ("fetch_lock_retry_seconds", 0, "store.fetch_lock_retry_seconds must be greater than 0"),
])
def test_bad_lease_values_name_the_key(tmp_path, key, value, says):
    data = minimal()
    data["store"] = {key: value}
    with pytest.raises(ConfigError, match=says):
        parse_settings(data, tmp_path)
