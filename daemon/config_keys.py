"""Reading one key of the TOML file: typed getters that name the full key on error.

daemon/config.py says which sections and keys there are; this module says how any one
key is read and checked (type, range, choice, e-mail, a secret from a file or command,
and the mode of a file that holds secrets).
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Any

from daemon.core.errors import ConfigError


class Section:
    """Typed getters over one TOML table that name the full key on error."""

    def __init__(self, name: str, data: Any) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"[{name}] must be a table, e.g. '[{name}]' on its own line")
        self.name = name
        self.data = data
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, hint: str = "") -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(f"{self._key(key)} is missing. {hint}".strip())
            return default
        value = self.data[key]
        # TOML booleans are ints to Python; refuse them where a number is wanted.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ConfigError(f"{self._key(key)} must be {kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise ConfigError(f"{self._key(key)} must be {kind_name(kind)}, got {value!r}. {hint}".strip())
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise ConfigError(f"{self._key(key)} = {value!r} is not one of {', '.join(choices)}")
        return value

    def positive(self, key: str, default: float) -> float:
        value = self.get(key, (int, float), default)
        if value <= 0:
            raise ConfigError(f"{self._key(key)} must be greater than 0, got {value!r}")
        return float(value)

    def port(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if not 0 < value < 65536:
            raise ConfigError(f"{self._key(key)} must be a TCP port 1-65535, got {value!r}")
        return value

    def secret(self, key: str) -> str:
        """password, password_file or password_command: exactly one source, resolved now."""
        sources = [k for k in (key, f"{key}_file", f"{key}_command") if k in self.data]
        for k in (key, f"{key}_file", f"{key}_command"):
            self.used.add(k)
        if len(sources) > 1:
            raise ConfigError(f"{self.name}: set only one of {', '.join(sources)}")
        if not sources:
            return ""
        source = sources[0]
        value = self.get(source, str)
        if source == key:
            return value
        if source.endswith("_file"):
            path = Path(value).expanduser()
            try:
                check_file_mode(path, what=self._key(source))
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{self._key(source)}: cannot read {path}: {exc.strerror}") from None
        try:
            done = subprocess.run(value, shell=True, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            raise ConfigError(f"{self._key(source)}: the command took longer than 30 s") from None
        if done.returncode != 0:
            # Only the exit code: the command's stderr may echo the secret.
            raise ConfigError(f"{self._key(source)}: the command exited with {done.returncode}")
        return done.stdout.strip()

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(
                f"unknown key {self.name}.{unknown[0]}: check the spelling against config.example.toml"
            )


def kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def email_value(section: Section, key: str, default: Any = ...) -> str:
    value = section.get(key, str, default)
    if value and ("@" not in value or " " in value.strip()):
        raise ConfigError(f"{section.name}.{key} = {value!r} is not an email address")
    return value.strip().lower()


def check_file_mode(path: Path, what: str = "") -> None:
    """Refuse a file readable by others when it holds secrets (the fetchmail model).

    For the config itself and for every `*_file` secret it names.
    """
    mode = path.stat().st_mode
    # Group read stays allowed so a service group can read it; world access never.
    if mode & (stat.S_IRWXO | stat.S_IWGRP):
        raise ConfigError(
            f"{what + ': ' if what else ''}{path} is readable or writable by other users "
            f"(mode {stat.S_IMODE(mode):o}); it holds passwords: chmod 600 {path}, or chmod 640 "
            f"with the service's group as its group (chown root:oneassist, README: Run it as a service)"
        )
