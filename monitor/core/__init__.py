"""The pure core: values in, values out. No driver, no I/O (enforced by import-linter)."""
