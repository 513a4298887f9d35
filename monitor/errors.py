"""The error tree. Each error knows its exit code (CONTRACT §3) and says what to do next.

Transient errors (a store that is down, slow or throttling) are `StoreUnavailable`: the daemon
counts them and tries again on the next run. Permanent ones (a table that does not exist) are
`StoreError`. Bad input is `ConfigError` / `UsageError` and stops the program with exit code 2.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INCONSISTENT = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130  # the shell's convention for a process stopped by SIGINT (Ctrl-C)

#: Every exit code of the command line and what it means (docs/commands.md is generated from it).
EXIT_CODES = {
    EXIT_OK: "consistent / passed",
    EXIT_INCONSISTENT: (
        "inconsistency over a threshold (or any finding with `--strict`); preflight failed or a"
        " gate refused; a repair action skipped or failed"
    ),
    EXIT_USAGE: "usage or configuration error (one line on stderr naming the key and the problem)",
    EXIT_UNAVAILABLE: "a store could not be reached or a check could not finish",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose. `str(err)` is one line for the user."""

    exit_code = EXIT_UNAVAILABLE


class ConfigError(MonitorError):
    """The configuration is wrong. Names the key and the problem."""

    exit_code = EXIT_USAGE

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"configuration error: {key}: {problem}")


class UsageError(MonitorError):
    """A command-line argument is wrong."""

    exit_code = EXIT_USAGE


class StoreUnavailable(MonitorError):
    """A store could not be reached or did not answer in time: transient, worth retrying later."""

    def __init__(self, store: str, reason: str) -> None:
        self.store = store
        self.reason = reason
        super().__init__(f"{store} unavailable: {reason}")


class StoreError(MonitorError):
    """A store answered, but not as the configuration expects (a missing table or column)."""

    def __init__(self, store: str, reason: str) -> None:
        self.store = store
        self.reason = reason
        super().__init__(f"{store}: {reason}")


class AlertDeliveryError(MonitorError):
    """An alert could not be delivered (Slack down, rate limited, misconfigured).

    `retry_after` is the wait the receiver asked for (HTTP Retry-After), in seconds.
    `permanent` means retrying cannot help until the configuration changes (a revoked token).
    The message never carries the webhook URL, the token or the payload.
    """

    def __init__(
        self, reason: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent
        super().__init__(f"alert delivery failed: {reason}")


def first_monitor_error(error: BaseException) -> MonitorError | None:
    """The monitor's own error inside an exception group (task groups wrap what they raise)."""
    if isinstance(error, MonitorError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = first_monitor_error(inner)
            if found is not None:
                return found
    return None


def describe_error(error: BaseException, *, message: bool = True) -> str:
    """One line about a failure, for logs, /status (`message=True`) and alert messages
    (`message=False`).

    A foreign exception's text may quote data values: only its type is shown, always. The
    monitor's own errors carry their message (built from ids, never from data) in logs; an alert
    leaves the process, so it says only the error's type and, for a store error, which store.
    """
    found = first_monitor_error(error)
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]  # a task group's wrapper says nothing: what it wraps
    if message:
        return (
            str(found)
            if found is not None
            else f"unexpected {type(error).__name__} (see the daemon log)"
        )
    if isinstance(found, StoreUnavailable | StoreError):
        return f"{type(found).__name__} ({found.store})"
    if found is not None:
        return type(found).__name__
    return type(error).__name__
