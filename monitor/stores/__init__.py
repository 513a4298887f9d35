"""The stores behind their ports (`ports.py`): PostgreSQL (`postgres.py`), DynamoDB (`dynamodb.py`,
with the wire-format codec `wire.py`), the monitor's own schema (`state.py`), the leader's lock
(`lock.py`). Only this package talks to a database driver."""
