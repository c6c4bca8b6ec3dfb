"""HTML to text: the converters measured for docs/reliability.md case 38, on mail and on hostile input.

    python -m bench.html_to_text            # corpus + hostile input at 256 KB, 512 KB, 1 MB
    python -m bench.html_to_text --base 65536 --timeout 20

Candidates that are not installed are skipped (only parsers.html_text ships):
    pip install html2text inscriptis lxml selectolax
Each hostile run is a fresh process with a timeout, so a quadratic converter shows as
"> N s" instead of stalling the bench. Times are CPU seconds (time.thread_time()).
"""

from __future__ import annotations

import argparse
import email
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]


def _html2text(markup: str) -> str:
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    return converter.handle(markup)


def _inscriptis(markup: str) -> str:
    import inscriptis

    return inscriptis.get_text(markup)


def _lxml(markup: str) -> str:
    import lxml.html

    # Block-aware text: a line break after each block element, as a converter would.
    root = lxml.html.document_fromstring(markup or "<p></p>")
    for element in root.iter("p", "div", "br", "tr", "li", "h1", "h2", "h3"):
        element.tail = "\n" + (element.tail or "")
    return root.text_content()


def _selectolax(markup: str) -> str:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    for node in tree.css("p, div, br, tr, li, h1, h2, h3"):
        node.insert_after("\n")
    return (tree.body or tree.root).text(separator="")


def _ours(markup: str) -> str:
    from parsers.html_text import html_to_text

    return html_to_text(markup)


CONVERTERS: dict[str, Callable[[str], str]] = {
    "parsers.html_text (chosen)": _ours, "selectolax 1.0 (lexbor)": _selectolax,
    "lxml 6.1 text_content": _lxml, "inscriptis 2.7 (lxml)": _inscriptis,
    "html2text 2025.4 (before)": _html2text,
}
HOSTILE: dict[str, Callable[[int], str]] = {
    "line breaks after <p>x</p>": lambda n: "<p>x</p>" + "\n" * n,
    "`<` flood": lambda n: "<" * n,
    "nested <div>": lambda n: "<div>" * (n // 5) + "x",
    "entities &amp;": lambda n: "&amp;" * (n // 5),
    "one long attribute": lambda n: '<a href="' + "x" * n + '">y</a>',
    "<br> tags": lambda n: "<br>" * (n // 4),
}


def available() -> dict[str, Callable[[str], str]]:
    found = {}
    for name, convert in CONVERTERS.items():
        try:
            convert("<p>x</p>")
        except ImportError:
            continue
        found[name] = convert
    return found


def corpus_html() -> list[str]:
    from bench.corpus import Client, generate

    parts = []
    raws = [p.read_bytes() for p in sorted((ROOT / "tests" / "samples").glob("*.eml"))]
    clients = [Client(f"c{i}@client.test", "Иван Петров") for i in range(20)]
    raws += [m.raw for m in generate(clients, "support@desk.test", 400, html_share=1.0)]
    for raw in raws:
        for part in email.message_from_bytes(raw).walk():
            if part.get_content_type() == "text/html":
                data = part.get_payload(decode=True) or b""
                parts.append(data.decode(part.get_content_charset() or "utf-8", "replace"))
    return parts


def _timed(name: str, kind: str, size: int, queue: multiprocessing.Queue) -> None:
    markup = HOSTILE[kind](size)
    started = time.thread_time()
    CONVERTERS[name](markup)
    queue.put(time.thread_time() - started)


def hostile_cpu(name: str, kind: str, size: int, timeout: float) -> str:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_timed, args=(name, kind, size, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return f"> {timeout:g} s"
    return f"{queue.get():.3f}" if not queue.empty() else "error"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.html_to_text", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=int, default=256 * 1024, help="n of n, 2n, 4n in bytes")
    parser.add_argument("--timeout", type=float, default=20.0, help="per hostile run, seconds")
    args = parser.parse_args(argv)
    converters = available()
    parts = corpus_html()
    total = sum(len(p) for p in parts)
    print(f"corpus: {len(parts)} HTML parts, {total / 1024:.0f} KB "
          "(tests/samples + bench.corpus with html_share=1)")
    for name, convert in converters.items():
        started = time.thread_time()
        for part in parts:
            convert(part)
        used = time.thread_time() - started
        print(f"  {name:28s} {used:.3f} s CPU, {used / len(parts) * 1e3:.2f} ms per part")
    sizes = (args.base, args.base * 2, args.base * 4)
    print(f"hostile input, CPU seconds at n, 2n, 4n (n = {args.base // 1024} KB):")
    for kind in HOSTILE:
        print(f"  {kind}")
        for name in converters:
            cells = [hostile_cpu(name, kind, size, args.timeout) for size in sizes]
            print(f"    {name:28s} " + "  ".join(f"{c:>8s}" for c in cells))


if __name__ == "__main__":
    main()
