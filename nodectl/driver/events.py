"""The process-wide libvirt setup: event loop and error reporting.

Owns one daemon thread running ``virEventRunDefaultImpl``, and silences
libvirt's default error handler (which prints every error, expected or not, to
stderr; drivers turn errors into exceptions instead). libvirt requires the
default event implementation to be registered before a connection is opened if
that connection is to deliver events, so drivers call ``ensure_event_loop()``
before ``libvirt.open``.
"""

from __future__ import annotations

import threading

import libvirt

__all__ = ["ensure_event_loop"]

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def _ignore_error(_opaque: object, _error: object) -> None:
    return None


def ensure_event_loop() -> None:
    """Register libvirt's default event loop and start its thread, once."""
    global _thread
    with _lock:
        if _thread is not None:
            return
        libvirt.registerErrorHandler(_ignore_error, None)
        libvirt.virEventRegisterDefaultImpl()
        _thread = threading.Thread(target=_run, name="libvirt-events", daemon=True)
        _thread.start()
