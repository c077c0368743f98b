"""The arrival board: when each API process's oldest waiting SQLite writer arrived.

A small file (``<database>-writer.lock.arrivals``) mapped into every process that writes
the database, so that the holder of the cross-process write lock (``writegate.py``) can
tell, with memory reads and no system call, whether a writer of another process has
waited longer than its own next writer. Each process claims a slot (its pid) and
publishes in it the arrival (``time.monotonic_ns()``: CLOCK_MONOTONIC is one clock for
the whole system) of its oldest writer that is waiting, 0 when none waits.

Layout: 8-byte native integers; word 0 is how many slots were ever claimed (the
readers scan no further), then per slot two words, the pid and the arrival. Each word
is written with one aligned 8-byte store, so a reader sees the old or the new value.

The board is advice, never a lock: what it says decides only whether a holder keeps
the lock for its own next writer or gives it back. So it is not trusted blindly: an
arrival in the future or older than the gate's timeout is ignored, one older than a
second has its pid checked (a dead process's slot is cleared), a slot of a crashed
process is claimed again by the next process that needs one, and a process that could
not map the board or claim a slot publishes nothing (the gate then falls back to looking
at the turnstile; see ``WriteGate``). A crash of a holder wedges nobody: the kernel
releases its ``flock``, and its stale arrival at worst makes the others give the lock
back when they could have kept it, until the check above clears it.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import time
import weakref

SLOTS = 64
_SIZE = (1 + 2 * SLOTS) * 8
STALE_NS = 30 * 1_000_000_000  # no writer waits longer (the gate's timeout)
CHECK_NS = 1_000_000_000  # an arrival this old has its process checked
_generation = [0]  # bumped in a forked child: its boards claim their own slots


def _forked() -> None:
    _generation[0] += 1


os.register_at_fork(after_in_child=_forked)


class ArrivalBoard:
    """This process's slot on the board of one database, and the others' arrivals."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._generation = -1
        self._words: memoryview | None = None  # the file's words, or None: no slot
        self._slot = -1  # index of this process's arrival word

    def _claim(self) -> None:
        """Map the board and claim a slot (once per process: a fork claims anew)."""
        self._generation = _generation[0]
        self._words, self._slot = None, -1
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one claimer at a time
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            words = memoryview(mmap.mmap(fd, _SIZE)).cast("q")
            slot = _free_slot(words)
            if slot >= 0:
                words[2 + 2 * slot + 1] = 0
                words[2 + 2 * slot] = os.getpid()
                used = words[0]  # garbled: every slot is scanned
                words[0] = max(used, slot + 1) if 0 <= used <= SLOTS else SLOTS
                self._words, self._slot = words, 2 + 2 * slot + 1
                weakref.finalize(self, _give_back, words, 2 + 2 * slot, os.getpid())
        except (OSError, ValueError):
            pass
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)  # the mapping holds a duplicate of fd: unlock
            os.close(fd)

    def _mine(self) -> memoryview | None:
        if self._generation != _generation[0]:
            self._claim()
        return self._words

    def publish(self, arrival_ns: int) -> None:
        """This process's oldest waiting writer arrived at ``arrival_ns`` (0: none waits)."""
        words = self._mine()
        if words is not None:
            words[self._slot] = arrival_ns

    @property
    def published(self) -> bool:
        """Whether this process has a slot (the others see its waiting writers)."""
        return self._mine() is not None

    def older_elsewhere(self, arrival_ns: int) -> bool:
        """Whether a writer of another process waits that arrived before ``arrival_ns``."""
        words = self._mine()
        if words is None:
            return False
        now = time.monotonic_ns()
        used = words[0]
        for arrival_at in range(3, 3 + 2 * min(max(used, 0), SLOTS), 2):
            other = words[arrival_at]
            if (other <= 0 or other >= arrival_ns or arrival_at == self._slot
                    or other > now or now - other > STALE_NS):
                continue
            if now - other > CHECK_NS and not _alive(words[arrival_at - 1]):
                words[arrival_at] = 0  # its process is gone
                continue
            return True
        return False


def _free_slot(words: memoryview) -> int:
    """A slot nobody uses (never claimed, given back, or its process is gone); -1: none."""
    for slot in range(SLOTS):
        pid = words[2 + 2 * slot]
        if pid <= 0 or not _alive(pid):
            return slot
    return -1


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True


def _give_back(words: memoryview, pid_at: int, pid: int) -> None:
    """At the board's end (or the process's exit): free the slot if still this process's."""
    try:
        if words[pid_at] == pid == os.getpid():
            words[pid_at + 1] = 0
            words[pid_at] = 0
    except (ValueError, IndexError):  # the mapping is gone
        pass
