"""Whether the table streams what the verifier needs, and how to make it so."""

from __future__ import annotations

from typing import Any

from monitor.errors import StoreError

STREAM_VIEW = "NEW_AND_OLD_IMAGES"


class StreamNotReady(StoreError):
    """The table has no stream of the kind the verifier needs; says how to enable it."""


def enable_stream_hint(table: str) -> str:
    return (
        f"aws dynamodb update-table --table-name {table} --stream-specification"
        f" StreamEnabled=true,StreamViewType={STREAM_VIEW}"
    )


def stream_arn(table: dict[str, Any], name: str) -> str:
    """The table's stream ARN, or StreamNotReady when it has none with both images."""
    spec = table.get("StreamSpecification") or {}
    arn = table.get("LatestStreamArn")
    if not spec.get("StreamEnabled") or not arn:
        raise StreamNotReady(
            "DynamoDB", f"table {name!r} has no stream; {enable_stream_hint(name)}"
        )
    if spec.get("StreamViewType") != STREAM_VIEW:
        raise StreamNotReady(
            "DynamoDB",
            f"table {name!r} streams {spec.get('StreamViewType')}, not {STREAM_VIEW}:"
            " disable the stream, then enable it with both images",
        )
    return str(arn)
