"""dualwrite-monitor: watches a PostgreSQL to DynamoDB dual-write migration."""

from __future__ import annotations

__version__ = "0.1.0"
