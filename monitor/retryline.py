"""Store retries on the command line: one updating line on a terminal, nothing in a pipe.

The DynamoDB adapter logs each retry at DEBUG (with `retry_attempt`/`retry_attempts`), so a
one-shot command whose store is down prints only its final message, not a line per attempt.
On a terminal, `RetryLine` shows the latest retry on a single line rewritten in place, and
erases it before anything else is printed, so the final message stands alone.
"""

from __future__ import annotations

import logging
from typing import TextIO

#: The logger whose retry records are shown.
RETRY_LOGGER = "monitor.stores.dynamodb"


class RetryLine(logging.Handler):
    def __init__(self, stream: TextIO) -> None:
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.shown = False

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "retry_attempt", None) is None:
            return
        try:
            self.stream.write(f"\r{record.getMessage()}\033[K")
            self.stream.flush()
            self.shown = True
        except (OSError, ValueError):  # the terminal went away: nothing to show it on
            self.shown = False

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


def attach_retry_line(stream: TextIO) -> RetryLine | None:
    """On a terminal, show retries on one line.

    The logger then lets DEBUG records through: the other handlers must carry their own level
    (the CLI's stderr handler does) so that they still drop them.
    """
    if not stream.isatty():
        return None
    handler = RetryLine(stream)
    logger = logging.getLogger(RETRY_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler


def clear_retry_line() -> None:
    """Erase a shown retry line, so the next message starts on a clean line."""
    for handler in logging.getLogger(RETRY_LOGGER).handlers:
        if isinstance(handler, RetryLine):
            handler.clear()
