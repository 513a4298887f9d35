"""Alerts on-call can trust: rules over check reports, persisted state, Slack via an outbox.

- `monitor.alerts.wiring.build_alerts` — everything below from `Settings` and a pool.
- `monitor.alerts.engine.AlertEngine.observe` — the daemon's report sink (every check run).
- `monitor.alerts.outbox.Outbox.run` — background delivery with retries (`deliver_due`: a pass).
- `monitor.alerts.slack.SlackNotifier`, `monitor.alerts.console.ConsoleNotifier` — receivers.
- `monitor.alerts.commands` — `silence add|list|remove`, `alerts test|status`.

Nothing is imported here, so the CLI can build its parser without loading slack-sdk.
"""

from __future__ import annotations
