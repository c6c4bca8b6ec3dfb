"""daemon.adapters.memory: freed heap memory goes back to the kernel (glibc)."""

import subprocess
import sys
import textwrap

from tests.integration.deskrig import ROOT

SCRIPT = textwrap.dedent("""
    import gc
    from daemon.adapters.memory import release_free_memory

    def rss_kib():
        return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])

    # 100 KB chunks sit under glibc's mmap threshold, so they come from the heap;
    # the last one stays alive, so the heap top cannot simply shrink.
    chunks = [bytes(100_000) for _ in range(1500)]
    keep = chunks[-1]
    del chunks
    gc.collect()
    before = rss_kib()
    release_free_memory()
    print(before - rss_kib())
""")


def test_freed_heap_is_returned():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True)
    released_kib = int(out.stdout.strip())
    assert released_kib > 100_000, f"only {released_kib} KiB went back"
