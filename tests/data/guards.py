"""A guard for tests that feed readers FIFOs, devices and sparse giants: a regression fails fast."""

import os
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MiB = 1 << 20


@contextmanager
def guarded(seconds: float = 10, extra: int = 256 * MiB) -> Iterator[None]:
    """A deadline (TimeoutError, e.g. a reader blocked on a FIFO) and at most ``extra`` more
    address space (MemoryError, e.g. a reader of /dev/zero); Linux only (``/proc``)."""

    def expire(*_: object) -> None:
        raise TimeoutError(f"still reading after {seconds} s")

    page_size = os.sysconf("SC_PAGE_SIZE")
    used = int(Path("/proc/self/statm").read_text().split()[0]) * page_size
    limits = resource.getrlimit(resource.RLIMIT_AS)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    resource.setrlimit(resource.RLIMIT_AS, (used + extra, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, limits)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
