"""The seed's three read patterns give the same committed records from either store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from monitor.config import Settings
from monitor.core.phases import Phase
from monitor.migration.phase import FixedPhase
from monitor.stores.faulty import ClientFault
from monitor.writer.reads import LogReader
from monitor.writer.results import Compensated
from tests.integration.writing import open_rig, records

pytestmark = pytest.mark.services


def test_each_read_pattern_answers_the_same_from_both_stores(settings: Settings) -> None:
    async def go() -> None:
        async with open_rig(settings) as rig:
            rows = records(40, at=datetime(2026, 2, 3, 23, 59, 59, tzinfo=UTC))
            for i, row in enumerate(rows):
                row["log_timestamp"] += timedelta(milliseconds=137 * i)
                row["application_id"] = "APP-1" if i % 3 else "APP-2"
            compensated = rows[5]
            rig.faulty.arm(rig.location(compensated), ClientFault.PUT_FAILED)
            for row in rows:
                result = await rig.writer.write(row)
                assert isinstance(result, Compensated) == (row is compensated)
            answers = {}
            for phase in (Phase.DUAL_WRITE, Phase.DYNAMO_READS):
                reader = LogReader(rig.sql, rig.dynamo, FixedPhase(phase))
                answers[phase] = (
                    await reader.logs_by_application("APP-1"),
                    await reader.logs_by_service_and_time_range(
                        rows[0]["service_name"],
                        rows[0]["log_timestamp"],
                        rows[-1]["log_timestamp"] + timedelta(seconds=1),
                    ),
                    await reader.error_logs_by_date(rows[0]["log_timestamp"].date()),
                )
            sql, dynamo = answers[Phase.DUAL_WRITE], answers[Phase.DYNAMO_READS]
            assert sql == dynamo
            by_app, by_service, errors = sql
            expected_app = [r["log_id"] for r in rows if r["application_id"] == "APP-1"]
            assert [r["log_id"] for r in by_app] == [
                k for k in expected_app if k != compensated["log_id"]
            ]
            assert by_service and all(
                r["service_name"] == rows[0]["service_name"] for r in by_service
            )
            assert all(r["is_success"] is False for r in errors)
            assert by_app[0]["request_data"] == next(
                r["request_data"] for r in rows if r["log_id"] == by_app[0]["log_id"]
            )

    anyio.run(go)
