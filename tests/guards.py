"""A guard for tests that feed readers FIFOs, devices and sparse giants: a regression fails fast
instead of hanging the suite or eating the machine."""

import os
import resource
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MiB = 1 << 20


@contextmanager
def guarded(seconds: float = 10, extra: int = 256 * MiB) -> Iterator[None]:
    """A deadline (TimeoutError, e.g. a reader blocked on a FIFO) and at most ``extra`` more
    address space (MemoryError, e.g. a reader of /dev/zero); Linux only (``/proc``). The alarm
    is sent to this thread, not to whichever of torch's threads the kernel would pick (which
    would leave an ``open`` blocked on a FIFO blocked)."""

    def expire(*_: object) -> None:
        raise TimeoutError(f"still reading after {seconds} s")

    page_size = os.sysconf("SC_PAGE_SIZE")
    used = int(Path("/proc/self/statm").read_text().split()[0]) * page_size
    limits = resource.getrlimit(resource.RLIMIT_AS)
    alarm = threading.Timer(seconds, signal.pthread_kill, (threading.get_ident(), signal.SIGALRM))
    previous = signal.signal(signal.SIGALRM, expire)
    resource.setrlimit(resource.RLIMIT_AS, (used + extra, limits[1]))
    alarm.start()
    try:
        yield
    finally:
        alarm.cancel()
        resource.setrlimit(resource.RLIMIT_AS, limits)
        signal.signal(signal.SIGALRM, previous)
