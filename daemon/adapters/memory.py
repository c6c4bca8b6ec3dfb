"""Hand freed heap memory back to the kernel after a burst of big mails (glibc only).

A mail with a 2 MB file passes through several 2-3 MB buffers (FETCH literal,
decoded text, the staff notice that forwards it). glibc keeps such freed
chunks in the heap and raises its mmap threshold after the first one, so RSS
stays at the high-water mark of the worst batch. malloc_trim(0) returns every
free page (MADV_DONTNEED), at the cost of a few hundred microseconds per
call: cheap once per batch, where a lower mmap threshold costs 12 % of the
daemon's CPU (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable

_trim: Callable[[int], int] | None = None


def _load() -> Callable[[int], int] | None:
    try:
        # Imported here: a unit with MemoryDenyWriteExecute= must lose only this, never
        # the daemon (ctypes makes a callback at import; libffi 3.4 manages under W^X).
        import ctypes

        # The interpreter's own symbols include libc's: no ldconfig lookup.
        return ctypes.CDLL(None).malloc_trim
    except (ImportError, OSError, AttributeError, MemoryError):  # not glibc (musl, macOS), or no ctypes
        return None


def release_free_memory() -> None:
    global _trim
    if _trim is None:
        _trim = _load() or (lambda _pad: 0)
    _trim(0)
