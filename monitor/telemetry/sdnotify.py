"""systemd's sd_notify(3) protocol in a few lines, so the unit can be `Type=notify` with a watchdog.

Without NOTIFY_SOCKET (not under systemd) every call is a no-op. No dependency: one datagram on a
unix socket (an abstract one when the address starts with `@`).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def notify(state: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Send e.g. "READY=1", "WATCHDOG=1", "STOPPING=1"; False when not under systemd."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        # A lost notification must not stop the monitor; systemd will say what it missed.
        log.warning("sdnotify.failed", extra={"error": exc.strerror or type(exc).__name__})
        return False
    return True


def watchdog_seconds(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog period systemd asked for (WatchdogSec), or None when there is none for us."""
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000
