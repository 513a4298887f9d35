"""Checks: read from both stores, hand values to the core, return a CheckReport."""
