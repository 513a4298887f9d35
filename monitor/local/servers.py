"""What both throwaway servers share: a free port, a log's tail, start/close plumbing, and
the dummy credentials local DynamoDB-API servers accept."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Self


def local_aws_env() -> dict[str, str]:
    """Dummy credentials: the AWS SDK refuses to sign requests without some, local servers accept any."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


class LocalServer:
    """Context-manager plumbing: a failed start still cleans up, since __exit__ would not run."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
