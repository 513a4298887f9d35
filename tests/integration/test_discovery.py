"""Discovery of DynamoDB-only partitions: every pass, the first included, is spread over runs
with a read budget each, resuming from cursors kept in the monitor's schema; configured
partition values need no Scan at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from monitor.checks import partitions
from monitor.checks.counts import run_counts
from monitor.checks.partitions import discover_partitions
from monitor.config import Settings
from monitor.model import FindingKind, Window
from monitor.runtime import open_context
from monitor.stores.dynamodb import DynamoStore
from monitor.writer.bulk import put_items
from tests.conftest import make_settings
from tests.integration.scenario import dynamo_client, make_rows, seed, write_config
from tests.integration.test_counts import WINDOW, check_counts
from tests.wire_items import wire_item

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
#: test_counts' WINDOW, for run_counts.
COUNTS_WINDOW = Window(datetime(2026, 1, 1, 9, tzinfo=UTC), datetime(2026, 1, 1, 11, tzinfo=UTC))
MISSING_IN_SQL = FindingKind.MISSING_IN_SQL


def rows_for(service: str, count: int, first_key: int) -> list[dict[str, object]]:
    rows = make_rows(count, first_key=first_key)
    for row in rows:
        row["service_name"] = service
    return rows


async def put(settings: Settings, rows: list[dict[str, object]]) -> None:
    mapping = settings.table_mapping()
    async with dynamo_client(settings) as client:
        await put_items(client, settings.dynamodb.table, [wire_item(r, mapping) for r in rows])


def test_passes_resume_across_runs_and_find_new_partitions(
    database: str, dynamo_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(
        database,
        dynamo_endpoint,
        dynamodb={"discovery_interval": "1h", "discovery_read_units_per_run": 0.5},
    )
    monkeypatch.setattr(partitions, "PAGE_LIMIT", 1)

    async def scenario() -> None:
        from monitor.setup import run_setup

        await run_setup(settings)
        await put(settings, [r for i in range(6) for r in rows_for(f"Svc{i}", 8, 1000 * i)])
        async with open_context(settings) as ctx:
            mapping = ctx.sql.mapping
            # The first pass is budgeted too: it never holds a check back, and until it has
            # finished the result says how much of the table it covered.
            moment = NOW
            first_progress = []
            for _ in range(200):
                first = await discover_partitions(ctx.dynamo, ctx.state, mapping, moment)
                if first.last_run is not None:
                    break
                first_progress.append(first.coverage)
                assert any("may still be unseen" in w for w in first.warnings)
                moment += timedelta(minutes=5)
            else:
                pytest.fail("the first discovery pass never completed")
            assert len(first_progress) >= 2, "a budgeted first pass should take several runs"
            assert first_progress == sorted(first_progress) and first_progress[-1] < 1.0
            assert first.values == {(f"Svc{i}",) for i in range(6)}
            assert first.last_run == moment and first.progress is None
            assert first.coverage == 1.0 and first.warnings == ()
            finished = moment

            # Not due yet: nothing is scanned.
            requests = ctx.dynamo.requests
            again = await discover_partitions(
                ctx.dynamo, ctx.state, mapping, finished + timedelta(minutes=5)
            )
            assert ctx.dynamo.requests == requests and again.last_run == finished

            await put(settings, rows_for("Retired", 3, 90_000))
            moment = finished + timedelta(hours=1)
            seen_progress = []
            for _ in range(200):
                result = await discover_partitions(ctx.dynamo, ctx.state, mapping, moment)
                if result.progress is None:
                    break
                seen_progress.append(result.progress)
                # A pass in progress reports the previous complete pass, and full coverage.
                assert result.last_run == finished and result.coverage == 1.0
                assert result.warnings == ()
                moment += timedelta(minutes=5)
            else:
                pytest.fail("the discovery pass never completed")
            assert len(seen_progress) >= 2, "a budgeted pass should take several runs"
            assert seen_progress == sorted(seen_progress)
            assert ("Retired",) in result.values
            assert result.last_run == moment

    anyio.run(scenario)


def test_configured_partition_values_need_no_scan(
    database: str, dynamo_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    services = ["CreditCheckService", "IncomeVerification", "FraudScreen", "Retired"]
    settings = make_settings(database, dynamo_endpoint)
    rows = make_rows(30)
    ghost = rows_for("Retired", 3, 5000)
    seed(settings, rows + ghost, drop_from_sql={r["log_id"] for r in ghost})
    values = ", ".join(f'"{s}"' for s in services)
    config = write_config(
        tmp_path / "c.toml",
        settings,
        f"[mapping]\npartition_values = {{ service_name = [{values}] }}\n",
    )
    scans: list[str] = []
    real_page = DynamoStore.scan_partition_keys_page

    async def counted(self: DynamoStore, *args: object, **kwargs: object) -> object:
        scans.append("scan")
        return await real_page(self, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoStore, "scan_partition_keys_page", counted)
        code, report, err = check_counts(capsys, config, *WINDOW)
    assert code == 1, err
    assert {f["key"]["log_id"] for f in report["findings"]} == {5000, 5001, 5002}
    assert scans == []
    assert report["summary"]["discovery_coverage"] == 1.0 and "warnings" not in report


def test_the_first_counts_run_answers_before_discovery_has_finished(
    database: str, dynamo_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(database, dynamo_endpoint)
    seed(settings, make_rows(60))
    config = write_config(tmp_path / "c.toml", settings)
    config.write_text(
        config.read_text().replace(
            "[dynamodb]\n", "[dynamodb]\ndiscovery_read_units_per_run = 0.5\n"
        )
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(partitions, "PAGE_LIMIT", 2)
        code, report, err = check_counts(capsys, config, *WINDOW)
    assert code == 0, (err, report)
    assert report["summary"]["sql_count"] == report["summary"]["dynamodb_count"] == 60
    assert report["summary"]["discovery_coverage"] < 1.0
    assert any("may still be unseen" in w for w in report.get("warnings", []))


def test_beside_a_check_one_discovery_page_is_in_flight_at_a_time(
    database: str, dynamo_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The check's own reads come first: discovery's segments take turns, so its share of the
    # server is about one request in max_concurrency + 1, whatever the table's size.
    settings = make_settings(database, dynamo_endpoint)
    seed(settings, make_rows(120) + rows_for("Retired", 40, 5000))
    config = write_config(tmp_path / "c.toml", settings)
    in_flight, most = 0, 0
    real_page = DynamoStore.scan_partition_keys_page

    async def counted(self: DynamoStore, *args: object, **kwargs: object) -> object:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await real_page(self, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            in_flight -= 1

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(partitions, "PAGE_LIMIT", 10)
        patch.setattr(DynamoStore, "scan_partition_keys_page", counted)
        code, report, err = check_counts(capsys, config, *WINDOW)
    assert code == 0, err
    assert most == 1


def test_discovery_beside_counts_keeps_to_its_share_and_finds_the_partition_over_runs(
    database: str, dynamo_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 1 % share: after the run's first page, discovery would need a hundred times that page's
    # read units from the check itself, which this small window never reads. So each run sends
    # one page, the report answers at once, and the pass is spread over many runs, segment
    # after segment, until it finds the partition that exists only in DynamoDB.
    settings = make_settings(database, dynamo_endpoint, dynamodb={"discovery_share": 0.01})
    ghost = rows_for("Retired", 30, 5000)
    seed(settings, make_rows(60) + ghost, drop_from_sql={r["log_id"] for r in ghost})
    pages: list[int] = []
    real_page = DynamoStore.scan_partition_keys_page

    async def counted(self: DynamoStore, *args: object, **kwargs: object) -> object:
        pages[-1] += 1
        return await real_page(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(partitions, "PAGE_LIMIT", 10)
    monkeypatch.setattr(DynamoStore, "scan_partition_keys_page", counted)
    coverage: list[float] = []
    found: list[set[object]] = []

    async def runs() -> None:
        from monitor.setup import run_setup

        await run_setup(settings)
        async with open_context(settings) as ctx:
            for _ in range(40):
                pages.append(0)
                report = await run_counts(
                    settings, ctx.sql, ctx.dynamo.for_run(), ctx.state, COUNTS_WINDOW, NOW
                )
                coverage.append(report.summary["discovery_coverage"])
                found.append({f.key for f in report.findings if f.kind is MISSING_IN_SQL})
                if coverage[-1] == 1.0:
                    return
                assert any("may still be unseen" in w for w in report.warnings)
            pytest.fail("the first discovery pass never completed")

    anyio.run(runs)
    assert pages == [1] * len(pages), "one page per run at a 1 % share"
    assert len(pages) >= partitions.SEGMENTS, "a page a run: a run per segment at least"
    # Segment after segment: the share covered grows through the pass, not only at its end.
    assert coverage == sorted(coverage) and any(0.0 < c < 1.0 for c in coverage)
    # Once a page has shown the ghost partition, it is remembered and read in every run.
    assert [len(keys) for keys in found] == sorted(len(keys) for keys in found)
    assert found[-1] == {r["log_id"] for r in ghost}
