"""A supervised process dies with its supervisor, and a stop request always ends it in time.

``dispatch1310 up`` starts each service in a session of its own (Ctrl-C reaches only ``up``,
which stops the children in order), so nothing of the terminal's kills a child when ``up``
itself is killed with ``kill -9``. Two links make the child follow anyway:

* the **lifeline**: a pipe whose write end only the supervisor holds; the child reads it in a
  thread and, at end of file (the supervisor is gone, however it died), stops itself;
* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends SIGTERM when the parent dies.

Either way the child stops as on SIGTERM, and :func:`exit_deadline` ends the process if a
graceful stop (a handler stuck on an away NATS, a blocked event loop) takes too long.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading

LIFELINE_FD_ENV = "DISPATCH1310_LIFELINE_FD"
SUPERVISOR_PID_ENV = "DISPATCH1310_SUPERVISOR_PID"
STOP_DEADLINE_S = 4.0  # a stopped service is gone within this, whatever it is waiting for
PR_SET_PDEATHSIG = 1

_deadline_lock = threading.Lock()
_deadline_armed = False


class Lifeline:
    """The supervisor's end: children started with :meth:`env` and :meth:`pass_fds` follow it."""

    def __init__(self) -> None:
        # Not inheritable (PEP 446): no child ever holds the write end, so its end of file
        # comes exactly when the supervisor's process is gone.
        self._read, self._write = os.pipe()

    def env(self) -> dict[str, str]:
        return {LIFELINE_FD_ENV: str(self._read), SUPERVISOR_PID_ENV: str(os.getpid())}

    def pass_fds(self) -> tuple[int, ...]:
        return (self._read,)

    def close(self) -> None:
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)


def set_parent_death_signal(signum: int = signal.SIGTERM) -> bool:
    """Linux only: have the kernel send ``signum`` to this process when its parent dies.

    (The kernel ties it to the parent *thread* that started the process: supervisors start
    their children from their main thread.)"""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def follow_supervisor() -> None:
    """In a child of ``up``: stop (as on SIGTERM) as soon as the supervisor is gone."""
    fd_text = os.environ.pop(LIFELINE_FD_ENV, None)
    supervisor = os.environ.pop(SUPERVISOR_PID_ENV, None)
    if fd_text is None and supervisor is None:
        return  # not supervised (``dispatch1310 service NAME`` run by hand or by compose)
    set_parent_death_signal(signal.SIGTERM)
    if supervisor is not None and os.getppid() != int(supervisor):
        _supervisor_gone()  # it died before the death signal was set
        return
    if fd_text is not None:
        threading.Thread(target=_watch_lifeline, args=(int(fd_text),), name="lifeline", daemon=True).start()


def _watch_lifeline(fd: int) -> None:
    try:
        while os.read(fd, 1024):
            pass  # the supervisor never writes; any data is ignored
    except OSError:
        pass
    _supervisor_gone()


def _supervisor_gone() -> None:
    print("supervisor gone; stopping", file=sys.stderr, flush=True)
    exit_deadline()
    os.kill(os.getpid(), signal.SIGTERM)


def exit_deadline(seconds: float = STOP_DEADLINE_S) -> None:
    """Arm (once) a timer that ends the process after ``seconds``, stopped gracefully or not.

    A thread, so it fires even when the event loop is blocked or awaiting a server that is away."""
    global _deadline_armed
    with _deadline_lock:
        if _deadline_armed:
            return
        _deadline_armed = True

    def expire() -> None:
        print(f"stop took longer than {seconds} s; exiting", file=sys.stderr, flush=True)
        os._exit(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
