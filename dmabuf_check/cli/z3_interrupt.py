"""Ctrl-C during a z3 query.

z3 installs its own SIGINT handler for the length of every check: Ctrl-C
then cancels the query, which returns ``unknown`` ("interrupted from
keyboard"), and Python never sees the signal, so a prove run went on to the
next property as if a solver had given up. With z3's handler off
(``ctrl_c=false``) Python's own C handler stays installed; it writes the
signal to the wake-up fd at once even while z3 holds the main thread, and a
watcher thread interrupts z3 (``Z3_interrupt`` is meant to be called from
another thread). The query returns, and the KeyboardInterrupt is raised in
the main thread as usual.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def interruptible(on_signal: Callable[[], None]) -> Iterator[None]:
    """Make Ctrl-C stop the running z3 query; ``on_signal`` runs in the watcher when it arrives."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread: nothing to watch
        return
    import z3

    z3.set_param("ctrl_c", False)
    r, w = os.pipe()
    os.set_blocking(w, False)  # the C handler must never block on a full pipe
    previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)

    def watch() -> None:
        while True:
            try:
                data = os.read(r, 64)
            except OSError:
                return
            if not data:  # write end closed: the run is over
                return
            if signal.SIGINT in data:
                on_signal()
                z3.main_ctx().interrupt()

    watcher = threading.Thread(target=watch, name="z3-ctrl-c", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        z3.set_param("ctrl_c", True)
        os.close(w)
        watcher.join(timeout=1)
        os.close(r)
