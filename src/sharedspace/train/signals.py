"""Stopping a run cleanly: SIGINT/SIGTERM end it after the current step, with a checkpoint."""

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm


class StopRequest:
    """SIGINT/SIGTERM set a flag the loop reads at the end of each step, instead of killing the
    step halfway; a second signal acts as usual (Ctrl-C twice quits at once), except while a
    checkpoint is being written (``saving``): the save completes first. It is atomic anyway,
    but a quit mid-save would leave its temp file, print a traceback from deep in torch.save,
    and lose the checkpoint the stop was waiting for. A no-op outside the main thread, where
    Python cannot install handlers; a signal the process ignores (a shell's background job
    ignores SIGINT) stays ignored, as Python itself leaves it at startup."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous = {}
        self._saving = False
        self._held: int | None = None  # a second signal that came during a save

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            heard = [s for s in self.SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
            self._previous = {s: signal.signal(s, self._handle) for s in heard}
        return self

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.signal is None:
            self.signal = signum
            tqdm.write(f"{name}: stopping after this step and saving a checkpoint (again to "
                       "quit at once)", file=sys.stderr)  # fmt: skip
        elif self._saving:
            self._held = signum
            tqdm.write(f"{name}: finishing the checkpoint being written first", file=sys.stderr)
        else:
            self._quit(signum)

    def _quit(self, signum: int) -> None:
        """Act as the signal would have without us (KeyboardInterrupt for Ctrl-C)."""
        self.__exit__()
        signal.raise_signal(signum)

    @contextmanager
    def saving(self, stops: bool) -> Iterator[None]:
        """Hold a second signal until the checkpoint written inside is complete; then quit,
        unless the run ``stops`` after this save anyway (the stop's own save: it then ends as
        a stop does, with the command that resumes and status 130)."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
        if self._held is not None and not stops:
            self._quit(self._held)

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
