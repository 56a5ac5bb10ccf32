"""Argon2's blocks go back to the OS: a server that hashed under a login flood does not keep
about 19 MiB per worker thread (mythos/allocator.py). Run in a subprocess: the setting is per
process, and the measurement needs a process that has not hashed yet."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from argon2 import PasswordHasher
    from mythos.auth import ARGON2_PARAMETERS, MAX_CONCURRENT_HASHES

    def rss_mib():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
        raise SystemExit("no VmRSS")

    if sys.argv[1] == "app":
        from mythos.app import create_app
        from tests.factories import make_config
        create_app(make_config(Path(sys.argv[2])))
    hasher = PasswordHasher(**ARGON2_PARAMETERS)

    async def main():
        gate = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        async def one(i):
            async with gate:
                await asyncio.to_thread(hasher.hash, f"pw-{i}")
        await one(-1)  # imports and first allocations out of the way
        before = rss_mib()
        await asyncio.gather(*(one(i) for i in range(40)))
        print(json.dumps({"growth_mib": rss_mib() - before}))

    asyncio.run(main())
    """
)


def _growth(mode: str, tmp_path: Path) -> float:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", PROBE, mode, str(tmp_path)], cwd=root, capture_output=True,
                         text=True, timeout=120, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["growth_mib"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt; RSS from /proc")
def test_hashing_after_create_app_keeps_no_argon2_blocks(tmp_path: Path) -> None:
    bare = _growth("bare", tmp_path)
    app = _growth("app", tmp_path)
    # The control: without the setting glibc keeps the blocks (57 MiB measured after 60 hashes).
    assert bare > 19, f"the control kept only {bare:.1f} MiB: the probe no longer shows the problem"
    assert app < 8, f"{app:.1f} MiB kept after 40 hashes in an app process (bare: {bare:.1f})"
