"""Whole-history verification (CONTRACT §9): `verify --from ISO [--until ISO]`.

`plan` cuts a range into windows and shards, `online` walks them (the counts check's slices,
per window), `checkpoint` keeps each finished window in the monitor's schema so a run resumes,
`shards` claims shards through PostgreSQL advisory locks so several processes share a run, and
`report` turns the windows' results into one report shaped like `check counts`.
"""
