"""The PostgreSQL DSN, checked when the configuration loads (never echoing its password).

asyncpg reads a DSN it cannot parse as "connect to localhost:5432" (`postgres:/oops`) or fails
with a bare `ValueError` on a port that is not a number; both must be configuration errors
that name `postgres.dsn`. Only the libpq URI form is accepted, as asyncpg accepts no other.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qs, urlsplit

_SCHEME = re.compile(r"postgres(?:ql)?://", re.ASCII)
DEFAULT_PORT = "5432"


class DsnError(ValueError):
    """Why a DSN cannot be used; the message never quotes the DSN itself."""


def dsn_hosts(dsn: str) -> list[str]:
    """`host:port` of each server the DSN names (raises DsnError), for messages and checks.

    An empty host (`postgresql:///db`) is the local socket, shown as `local socket`.
    """
    return [f"{host or 'local socket'}:{port}" for host, port in _servers(dsn)]


def dsn_is_local(dsn: str) -> bool:
    """Whether every server the DSN names is on this machine: a socket (no host, or a folder)
    or a loopback name or address. (A local proxy in front of a remote server reads as local.)"""
    return all(_on_this_machine(host) for host, _ in _servers(dsn))


def _on_this_machine(host: str) -> bool:
    if not host or host.startswith("/") or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _servers(dsn: str) -> list[tuple[str, str]]:
    """(host, port) of each server; host "" is the local socket."""
    if not _SCHEME.match(dsn):
        raise DsnError(
            "not a PostgreSQL URI; write postgresql://user@host:5432/dbname"
            " (the password in env DUALWRITE_MONITOR_POSTGRES_DSN)"
        )
    if any(c.isspace() for c in dsn):
        raise DsnError("contains whitespace; percent-encode it (%20)")
    try:
        parts = urlsplit(dsn)
    except ValueError:
        raise DsnError("cannot be parsed as a URI") from None
    # Everything before the last "@" is user and password: never looked at, never shown.
    hostlist = parts.netloc.rpartition("@")[2]
    query = parse_qs(parts.query)
    query_ports = ",".join(query.get("port", [])).split(",") if "port" in query else []
    query_hosts = ",".join(query.get("host", [])).split(",") if "host" in query else []
    out: list[tuple[str, str]] = []
    for spec in hostlist.split(",") if hostlist else []:
        host, port = _split_host(spec)
        out.append((host, port or DEFAULT_PORT))
    for port in query_ports:
        _check_port(port)
    if not out:
        port = query_ports[0] if query_ports else DEFAULT_PORT
        out = [(host, port) for host in query_hosts or [""]]
    return out


def _split_host(spec: str) -> tuple[str, str]:
    if spec.startswith("["):
        host, bracket, rest = spec[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise DsnError("an IPv6 host must be written [address]:port")
        port = rest[1:]
    else:
        host, _, port = spec.partition(":")
    _check_port(port)
    return host, port


def _check_port(port: str) -> None:
    # The text is not echoed: in a DSN missing its "@", what looks like a port is a password.
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise DsnError("a port is not a number from 1 to 65535")
