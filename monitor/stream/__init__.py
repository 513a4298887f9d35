"""Continuous verification from change streams (CONTRACT §10).

`dynamo.py` reads the DynamoDB table's stream shard by shard into a `ChangeBuffer`; the
`Verifier` judges each changed record once it is older than `grace`, against its SQL row, with
the comparators of `check sample`; `findings.py` reports each finding once, across restarts;
`service.py` runs it all in the daemon while this replica leads.
"""
