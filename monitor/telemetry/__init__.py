"""The daemon's outputs: OTel metrics (/metrics, OTLP), the HTTP endpoints, JSON logs, sd_notify."""

from __future__ import annotations
