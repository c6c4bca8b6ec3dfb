"""Log lines cannot be forged by mail text (issue 9, finding 10; docs/reliability.md cases 29 and 44)."""

import io
import logging

import pytest

from daemon.logsetup import JournalFormatter, setup_logging
from parsers.oneline import one_line


def _capture(journald: bool = True) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter(journald=journald))
    logger = logging.getLogger(f"test.logsetup.{journald}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


@pytest.mark.parametrize("evil", ["x\r\n<3>forged", "x\n<3>forged", "x\r<3>forged", "x\x0b<3>forged",
                                  "x\x0c<3>forged", "x\x85<3>forged", "x\u2028<3>forged", "x\u2029<3>forged",
                                  "x\x1b[2K<3>forged"])
def test_a_crlf_argument_gives_one_line(evil):
    logger, stream = _capture()
    logger.warning("staff mail not authenticated (%s)", evil)
    out = stream.getvalue()
    assert out.count("\n") == 1 and out.endswith("\n")
    assert len(out.rstrip("\n").splitlines()) == 1
    assert out.startswith("<4>WARNING") and "<3>forged" in out


def test_exception_text_from_mail_is_escaped_but_frames_stay_readable():
    logger, stream = _capture()
    try:
        raise ValueError("bad header d=x\r\n<2>forged entry")
    except ValueError:
        logger.exception("spool=1 processing failed")
    lines = stream.getvalue().rstrip("\n").split("\n")
    assert lines[0].startswith("<3>ERROR")
    # Every continuation line is indented: none can pass for an entry of its own.
    assert all(line.startswith("  ") for line in lines[1:])
    assert any("Traceback" in line for line in lines)
    # The frame's source line quotes the literal; the exception line is the one from "mail".
    (last,) = [line for line in lines if line.lstrip().startswith("ValueError")]
    assert last == "  ValueError: bad header d=x\\r\\n<2>forged entry"


def test_chained_exceptions_are_shown_and_escaped():
    logger, stream = _capture(journald=False)
    try:
        try:
            raise KeyError("a\nb")
        except KeyError as exc:
            raise RuntimeError("c\nd") from exc
    except RuntimeError:
        logger.exception("failed")
    lines = stream.getvalue().rstrip("\n").split("\n")
    assert all(line.startswith("  ") for line in lines[1:])
    assert any("direct cause" in line for line in lines)
    assert any("RuntimeError: c\\nd" in line for line in lines)


def test_one_line_leaves_ordinary_text_alone():
    assert one_line("Фёдор <ivan@example.org> OA-12 100%") == "Фёдор <ivan@example.org> OA-12 100%"
    assert one_line("a\tb\x00c") == "a\\tb\\x00c"


def test_dkimpy_logger_is_quiet_and_goes_through_our_formatter(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("DEBUG")
        dkim_logger = logging.getLogger("dkimpy")
        assert not dkim_logger.isEnabledFor(logging.INFO)
        dkim_logger.debug("sign headers: %r", "From: secret@example.org")
        dkim_logger.warning("bad sig d=%s", "x\r\n<3>forged")
        err = capsys.readouterr().err
        assert "secret@example.org" not in err
        assert err.count("\n") == 1 and "x\\r\\n<3>forged" in err
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
