"""What a check runs against: the settings and the two stores, through their ports."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.checks.sampling import SampleCache
from monitor.config import Settings
from monitor.stores.ports import DiscoveryState, SourceStore, TargetStore


@dataclass
class CheckContext:
    settings: Settings
    sql: SourceStore
    dynamo: TargetStore
    #: None when the monitor's schema cannot be created (e.g. a read-only database user).
    state: DiscoveryState | None
    warnings: list[str] = field(default_factory=list)
    #: Set by `check all` so `quality` and `sample` read one sample; None elsewhere (the daemon's
    #: runs each have their own window, so holding a sample there would only cost memory).
    samples: SampleCache | None = None
