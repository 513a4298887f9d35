"""The stores behind their ports (`ports.py`): PostgreSQL (`postgres/`), DynamoDB (`dynamodb/`,
with the wire-format codec `wire.py`), the monitor's own schema (`state.py`), the leader's lock
(`lock.py`). Only this package talks to a database driver."""
