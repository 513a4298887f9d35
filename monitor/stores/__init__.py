"""Adapters for PostgreSQL and DynamoDB behind the Protocols of `ports.py`."""
