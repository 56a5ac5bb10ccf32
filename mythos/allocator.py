"""Large heap blocks go back to the operating system when freed.

Each argon2id hash allocates its 19 MiB of memory (``ARGON2_PARAMETERS``) in a worker thread.
glibc raises its mmap threshold after the first such block is freed, so later blocks come from
the thread's own arena and stay mapped: under a login flood the server kept about 19 MiB per
thread that ever hashed (57 MiB after 60 hashes two at a time, in `server_rss_growth_under_abuse_mb`
42.8 of 46.6 MB). A fixed threshold of 1 MiB keeps every large block mmapped, so a free returns
it (0.3 MiB after the same 60 hashes); the price is one mmap and munmap per hash, small beside
the hash itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["LARGE_BLOCK_BYTES", "return_large_blocks_to_os"]

LARGE_BLOCK_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def return_large_blocks_to_os(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes; True when it was set (glibc on Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
