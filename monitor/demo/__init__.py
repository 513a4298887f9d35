"""`dualwrite-monitor demo`: the whole product on one machine, with nothing to set up.

1. starts a throwaway PostgreSQL and a local DynamoDB-API server (`monitor.local`), runs `setup`;
2. runs the traffic generator (heavy faults by default) through the dual writer and, at the same
   time, the daemon in-process with intervals of a few seconds, its endpoints on a free local port
   and its alerts on the console;
3. shows a live view on a terminal (plain lines otherwise);
4. waits until the last records are older than grace and settle, runs every check once more over
   the whole run, and compares what the checks found with the generator's ground truth;
5. repairs what the checks found (`repair --apply`: conditional, audited) and runs every check
   again: they agree, but on the records repair leaves as written (invalid data).

Exit 0 only when every injected fault was found with its expected kind, no other key was
reported, and every check agrees after the repair. Ctrl-C (or SIGTERM) stops it early; everything it started is stopped and removed.
"""

from __future__ import annotations

from monitor.demo.outcome import score
from monitor.demo.run import run_demo

__all__ = ["run_demo", "score"]
