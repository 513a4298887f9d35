"""The daemon's logs: one JSON object per line on stdout (journald and Kubernetes collect it).

structlog renders every record, including the stdlib loggers of apscheduler, asyncpg, aiohttp and
our own modules, bridged through `ProcessorFormatter`, so one parser reads everything. A check run
binds `check` and `run_id` (contextvars), so every line it causes carries them.

Never in a log: secrets (passwords in DSNs, tokens, webhook URLs are masked by `redact`, and keys
named like secrets are dropped to "***"), and never request/response data (the AWS SDK's debug
loggers, which print bodies, are held at WARNING even with --debug, in the CLI too; a traceback keeps frames and
exception types but drops foreign exception messages, which may quote a value).

One-shot CLI commands keep plain stderr logging; only `run` calls `configure_logging`.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from monitor.errors import MonitorError

REDACTED = "***"

#: Keys whose values are secrets whatever they hold.
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|dsn|authorization|api_?key|webhook|credential", re.I
)
_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://user:***@host
    # (over-masks rather than leaks when a password holds an unencoded "/" or ":")
    (re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", re.I), r"\g<head>:***@"),
    # libpq keyword form and query strings: password=..., pwd=...
    (re.compile(r"\b(?P<key>password|passwd|pwd)\s*=\s*[^\s&;,'\"]+", re.I), r"\g<key>=***"),
    (re.compile(r"https://hooks\.slack\.com/\S+", re.I), "https://hooks.slack.com/***"),
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), "xox*-***"),
    (re.compile(r"(?P<head>\bBearer\s+)\S+", re.I), r"\g<head>***"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "AKIA***"),
)

#: Loggers that would print request/response data at DEBUG (botocore's "Response body" holds
#: whole items), or a line per scrape or job run. Held at WARNING whatever the level, --debug
#: included: debug output is still governed by the no-data rule.
_QUIET = {
    "botocore": logging.WARNING,
    "aiobotocore": logging.WARNING,
    "urllib3": logging.WARNING,
    "aiohttp": logging.WARNING,
    "s3transfer": logging.WARNING,
    "apscheduler.executors": logging.WARNING,
    "apscheduler.scheduler": logging.WARNING,
}
#: Loggers whose warnings of an expected fault carry a traceback: kept to one line.
_ONE_LINE = ("asyncpg.pool",)


class OneLineFault(logging.Filter):
    """A driver's warning about a fault we expect (asyncpg's pool failing to reconnect while
    PostgreSQL is down) becomes one line naming the exception type, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = _exception_of(record.exc_info)
        if exc is not None:
            record.msg = f"{record.getMessage()} ({type(exc).__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


#: What asyncpg's TLS negotiation future holds when the connection attempt that created it was
#: cancelled before the server's first byte (asyncpg.connect_utils.TLSUpgradeProto).
_CANCELLED_CONNECT = "unexpected connection_lost() call"


class CancelledConnectLeftover(logging.Filter):
    """Drops asyncio's "Future exception was never retrieved" for asyncpg's TLS negotiation.

    When a connection attempt is cancelled while its socket is being set up (a check that fails
    cancels its sibling slices, a connect_timeout expires under load), asyncpg closes the socket
    and its protocol then fails a future that no one awaits any more; asyncio logs it with a
    traceback when it is collected. The attempt's fault was already reported by the cancelling
    error, so this record says nothing new.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = _exception_of(record.exc_info)
        return not (
            record.getMessage().startswith("Future exception was never retrieved")
            and type(exc) is ConnectionError
            and exc.args == (_CANCELLED_CONNECT,)
        )


def quiet_drivers() -> None:
    """Wire loggers held at WARNING, fault tracebacks of driver loggers cut to one line."""
    for name, level in _QUIET.items():
        logging.getLogger(name).setLevel(level)
    for name in _ONE_LINE:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineFault) for f in logger.filters):
            logger.addFilter(OneLineFault())
    loop_logger = logging.getLogger("asyncio")
    if not any(isinstance(f, CancelledConnectLeftover) for f in loop_logger.filters):
        loop_logger.addFilter(CancelledConnectLeftover())


def redact_text(text: str) -> str:
    """Mask credentials embedded in free text (DSNs, tokens, webhook URLs)."""
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: secrets never reach the output, whoever logged them."""
    for key, value in list(event_dict.items()):
        if _SECRET_KEY.search(key) and value not in (None, ""):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact_text(value)
    return event_dict


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    return sys.exc_info()[1] if exc_info is True else None


def _describe(exc: BaseException, seen: set[int]) -> list[str]:
    """Frames and exception types; messages only for the monitor's own errors (a foreign
    message, e.g. a KeyError's, may quote a data value)."""
    seen.add(id(exc))
    lines: list[str] = []
    chained = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if chained is not None and id(chained) not in seen:
        lines += [*_describe(chained, seen), "The above led to:\n"]
    lines.append("Traceback (most recent call last):\n")
    lines += traceback.format_list(traceback.extract_tb(exc.__traceback__))
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    lines.append(f"{name}: {exc}\n" if isinstance(exc, MonitorError) else f"{name}\n")
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            lines += [f"  [in group] {line}" for line in _describe(inner, seen)]
    return lines


def format_exception(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: `exc_info` -> `exception`, without foreign exception messages."""
    exc = _exception_of(event_dict.pop("exc_info", None))
    if exc is not None:
        event_dict["exception"] = "".join(_describe(exc, set()))
    return event_dict


def configure_logging(*, debug: bool = False, stream: TextIO | None = None) -> None:
    """JSON lines on `stream` (stdout) for every logger in the process; replaces other handlers."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # Stdlib records: their `extra={...}` fields become JSON keys.
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            format_exception,
            redact,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    quiet_drivers()
