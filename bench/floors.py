"""The floor: what the same work costs without the daemon.

`floor_fetch` / `floor_send` are the plain imapclient and aiosmtplib loops the daemon is
compared with; `in_child()` runs them in a fresh process, as the daemon runs in one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

# -- the floor: what the same work costs without the daemon ---------------------------------

def floor_fetch(host: str, port: int, user: str, password: str, folder: str, batch: int) -> dict[str, Any]:
    """Connect, log in, SELECT and FETCH BODY.PEEK[] of every mail in batches of `batch` UIDs.

    Also times, apart from the floor, `email.message_from_bytes` over the same mails: fetch
    plus that parse is the least CPU any daemon built on imapclient and the standard
    library's parser (mail-parser is built on it) spends per mail before storing anything.
    """
    from imapclient import IMAPClient

    started, cpu = time.monotonic(), time.process_time()
    client = IMAPClient(host, port, ssl=False, timeout=60)
    client.login(user, password)
    client.select_folder(folder, readonly=True)
    uids = sorted(client.search("ALL"))
    count = total = 0
    parse_cpu = parse_wall = 0.0
    for i in range(0, len(uids), batch):
        data = client.fetch(uids[i:i + batch], [b"BODY.PEEK[]"])
        for value in data.values():
            count += 1
            total += len(value[b"BODY[]"])
        # Not part of the floor: the standard library's parse of the same mails, timed apart.
        parse_started, parse_wall_started = time.process_time(), time.monotonic()
        for value in data.values():
            email.message_from_bytes(value[b"BODY[]"])
        parse_cpu += time.process_time() - parse_started
        parse_wall += time.monotonic() - parse_wall_started
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    client.logout()
    return {"seconds": seconds - parse_wall, "cpu_seconds": cpu - parse_cpu, "mails": count, "bytes": total,
            "batch": batch, "stdlib_parse_cpu_seconds": parse_cpu}


def floor_send(host: str, port: int, mails: list[tuple[str, str, bytes]]) -> dict[str, Any]:
    """Send (from, to, raw) mails one after another over one aiosmtplib connection."""
    import aiosmtplib

    from daemon.adapters import smtp_wire

    # This process imported the daemon's SMTP adapter (through the rig); the floor is the
    # library as shipped, without the daemon's faster line-end handling.
    smtp_wire.uninstall()

    async def run() -> dict[str, Any]:
        started, cpu = time.monotonic(), time.process_time()
        client = aiosmtplib.SMTP(hostname=host, port=port, timeout=60, start_tls=False, use_tls=False)
        await client.connect()
        total = 0
        for sender, rcpt, raw in mails:
            await client.sendmail(sender, [rcpt], raw)
            total += len(raw)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
        await client.quit()
        return {"seconds": seconds, "cpu_seconds": cpu, "mails": len(mails), "bytes": total}

    return asyncio.run(run())


def in_child(func: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run a floor loop in a fresh interpreter (spawn): its own process and GIL, like the daemon.

    The loop times itself, so interpreter start-up is not counted.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(func, *args).result(timeout=900)
