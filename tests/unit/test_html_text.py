"""docs/reliability.md case 38: HTML to text and reply stripping are linear in their input."""

from __future__ import annotations

import time

import pytest

from parsers.html_text import html_to_text
from parsers.mime import _strip_tags, parse
from parsers.quoting import strip_reply

MB = 1024 * 1024

HOSTILE = {
    "line breaks after a paragraph": lambda n: "<p>x</p>" + "\n" * n,
    "a flood of <": lambda n: "<" * n,
    "<br> tags": lambda n: "<br>" * (n // 4),
    "nesting of <div>": lambda n: "<div>" * (n // 5) + "x",
    "entities": lambda n: "&amp;" * (n // 5),
    "bare ampersands": lambda n: "&" * n,
    "a long attribute": lambda n: '<a href="' + "x" * n + '">y</a>',
    "an unterminated tag": lambda n: '<a href="' + "x" * n,
    "unterminated comments": lambda n: "<!--" * (n // 4),
    "<a without >": lambda n: "<a" * (n // 2),
    "table cells": lambda n: "<td>" * (n // 4),
    "links": lambda n: '<a href="https://x.test">y</a>' * (n // 30),
}


def cpu_seconds(convert, markup: str) -> float:
    started = time.thread_time()
    convert(markup)
    return time.thread_time() - started


@pytest.mark.parametrize("name", list(HOSTILE))
def test_one_megabyte_of_hostile_html_converts_in_under_a_second(name):
    assert cpu_seconds(html_to_text, HOSTILE[name](MB)) < 1.0


@pytest.mark.parametrize("name", ["line breaks after a paragraph", "a flood of <",
                                  "nesting of <div>"])
def test_the_fallback_stripper_is_linear_too(name):
    assert cpu_seconds(_strip_tags, HOSTILE[name](MB)) < 1.0


def test_a_mail_of_line_breaks_parses_fast():
    """The measured stall: a text/html part of <p>x</p> and 60 KB of line breaks (11 s at 24 KB)."""
    raw = (b"From: stranger@x.test\r\nContent-Type: text/html\r\n\r\n<p>x</p>"
           + b"\r\n" * 30_000)
    started = time.thread_time()
    assert parse(raw).text == "x"
    assert time.thread_time() - started < 0.5


def test_readable_text_from_mail_html():
    markup = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<div>Добрый день,</div><div><br></div><div>билеты <b>на субботу</b>,\n  два места"
        "</div><p>Ссылка: <a href=\"https://tickets.test/a?x=1&amp;y=2\">заказ</a></p>"
        "<ul><li>один</li><li>два</li></ul><table><tr><td>1</td><td>2</td></tr></table>"
        "<!-- [if mso]> <b>x</b> <![endif] --><script>alert(1)</script>"
        "<pre>  a\n  b</pre>1 &lt; 2 &amp; 3 < 4&nbsp;end</body></html>"
    )
    assert html_to_text(markup).split("\n") == [
        "Добрый день,", "", "билеты на субботу, два места", "",
        "Ссылка: заказ (https://tickets.test/a?x=1&y=2)", "", "один", "два", "", "1 2", "",
        "  a", "  b", "", "1 < 2 & 3 < 4\xa0end",
    ]


def test_tags_in_html_reach_the_tag_parser_one_per_line():
    text = html_to_text("<div>#accept +2d<br></div><div><b>#note</b> звонил</div>"
                        "<p>Добрый день</p>")
    assert text.split("\n") == ["#accept +2d", "#note звонил", "", "Добрый день"]


def test_a_link_showing_its_address_is_not_repeated():
    assert html_to_text('<a href="mailto:a@b.test">a@b.test</a>') == "a@b.test"
    assert html_to_text('<a href="https://x.test">https://x.test</a>') == "https://x.test"
    assert html_to_text('<a href="javascript:x()">y</a>') == "y"


@pytest.mark.parametrize("tail", ["\n", "\n* * *", "\n--", "\n> q"])
def test_reply_stripping_is_linear_in_trailing_lines(tail):
    started = time.thread_time()
    assert strip_reply("Новая задача" + tail * 200_000).startswith("Новая задача")
    # About 0.2 s of CPU here; the quadratic version took 35 s. The margin is for shared cores.
    assert time.thread_time() - started < 2.0
