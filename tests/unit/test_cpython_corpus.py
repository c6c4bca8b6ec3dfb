"""CPython's malformed-mail corpus through parse() (docs/reliability.md cases 17 and 30).

The corpus ships with Python's test package (Debian: libpython3.11-testsuite). Where it is
missing the tests are skipped with that reason, except under CI=true, where CI installs
it and a missing corpus is a failure rather than a silent skip.
"""

import hashlib
import os
import time
from pathlib import Path

import pytest

from daemon.core.errors import QuarantineError
from parsers.automatic import automatic_reason
from parsers.mail import InboundMail
from parsers.mime import parse
from tests.unit.test_properties_mime import contract_violation


def _corpus_dir() -> Path | None:
    try:
        import test.test_email as test_email
    except ImportError:
        return None
    data = Path(test_email.__file__).parent / "data"
    return data if data.is_dir() else None


CORPUS = _corpus_dir()
FILES = sorted(CORPUS.glob("msg_*.txt")) if CORPUS else []
MISSING = "CPython's test.test_email corpus is not installed (Debian: libpython3.11-testsuite)"

if not FILES and os.environ.get("CI") != "true":
    pytest.skip(MISSING, allow_module_level=True)


def _load(name: str) -> bytes:
    assert CORPUS is not None, MISSING
    return (CORPUS / name).read_bytes()


def test_the_whole_corpus_is_there():
    assert len(FILES) >= 48, MISSING


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_each_message_parses_or_is_quarantined_quickly(path):
    raw = path.read_bytes()
    started = time.process_time()
    try:
        mail = parse(raw)
    except QuarantineError:
        mail = None
    assert time.process_time() - started < 2.0
    if mail is not None:
        assert isinstance(mail, InboundMail)
        assert mail.sha256 == hashlib.sha256(raw).hexdigest() and mail.size == len(raw)
        assert isinstance(mail.text, str)
        mail.text.encode("utf-8")
        for _, value in mail.headers:
            assert "\n" not in value and "\r" not in value
        # Every decoded value, not only the header list (the same check as the properties).
        assert contract_violation(raw) == ""


@pytest.mark.parametrize(
    "name",
    [
        "msg_15.txt",
        "msg_17.txt",
        "msg_25.txt",
        "msg_31.txt",
        "msg_39.txt",
        "msg_41.txt",
        "msg_42.txt",
    ],
)
def test_lying_multiparts_keep_their_text(name):
    # policy.default's get_content() raises KeyError on exactly these (measured on CPython 3.11.7).
    mail = parse(_load(name))
    assert mail.text.strip() or mail.attachments


@pytest.mark.parametrize("name", ["msg_16.txt", "msg_25.txt", "msg_43.txt"])
def test_corpus_bounces_are_classified_as_bounces(name):
    mail = parse(_load(name))
    reason = automatic_reason(
        mail, loop_id="oneassist@desk.example", own_addresses=frozenset(), own_domains=frozenset()
    )
    assert reason == "bounce"
