"""Configuration: the shipped file, environment overrides, and one test per class of error."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.cli import main
from monitor.config import Settings, load_settings, parse_duration
from monitor.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_is_valid_and_equals_the_defaults() -> None:
    shipped = load_settings(REPO / "config.toml", environ={})
    defaults = Settings()
    assert shipped.table_mapping() == defaults.table_mapping()
    for section in ("postgres", "dynamodb", "checks", "alerts", "telemetry", "ha", "writer"):
        assert getattr(shipped, section) == getattr(defaults, section), section


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[checks.counts]\nwindow = "10m"\n')
    settings = load_settings(
        config,
        environ={
            "DUALWRITE_MONITOR_POSTGRES_DSN": "postgresql://u:hunter2@db/x",
            "DUALWRITE_MONITOR_CHECKS_COUNTS_WINDOW": "30m",
            "SLACK_WEBHOOK_URL": "https://hooks.example/T/B/X",
        },
    )
    assert settings.checks.counts.window == timedelta(minutes=30)
    assert settings.postgres.dsn.get_secret_value() == "postgresql://u:hunter2@db/x"
    assert settings.alerts.slack_webhook_url.get_secret_value() == "https://hooks.example/T/B/X"
    # Secrets never show in a printed settings object.
    assert "hunter2" not in repr(settings) and "hooks.example" not in str(settings)


def test_config_path_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('[dynamodb]\ntable = "Other"\n')
    settings = load_settings(None, environ={"DUALWRITE_MONITOR_CONFIG": str(config)})
    assert settings.dynamodb.table == "Other"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[postgres]\ndsnn = "x"\n', "postgres.dsnn", "unknown key"),
        (
            '[dynamodb]\nmax_read_units_per_second = "lots"\n',
            "dynamodb.max_read_units_per_second",
            "valid number",
        ),
        (
            '[checks.counts]\ninterval = "5 minutes"\n',
            "checks.counts.interval",
            "is not a duration",
        ),
        ("[checks.counts]\ninterval = 300\n", "checks.counts.interval", "duration string"),
        (
            '[mapping]\npartition_key_template = "LOG#{service_name"\n',
            "mapping.partition_key_template",
            "unbalanced brace",
        ),
        (
            '[mapping]\nsort_key_template = "{log_id}#{log_timestamp:%Y}"\n',
            "mapping.sort_key_template",
            "must begin with",
        ),
        (
            '[mapping]\nsort_key_template = "{log_timestamp:%d/%m/%Y}#{log_id}"\n',
            "mapping.sort_key_template",
            "text order is time order",
        ),
        (
            '[mapping]\npartition_key_template = "X#{service_name:%Y}"\n',
            "mapping.partition_key_template",
            "only the timestamp column",
        ),
        (
            '[mapping]\nsql_table = "logs; DROP TABLE x"\n',
            "mapping.sql_table",
            "not a safe SQL table name",
        ),
        ('[mapping]\nkey_column = "id\\" --"\n', "mapping.key_column", "not a safe SQL identifier"),
        (
            "[alerts.thresholds]\nfield_accuracy = { target = 99 }\n",
            "alerts.thresholds.field_accuracy",
            "exactly one of",
        ),
        ('[telemetry]\nlisten = "9464"\n', "telemetry.listen", "host:port"),
        ("[postgres\n", "c.toml", "not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, problem: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    code = main(["check", "counts", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert key in err and problem in err, err
    assert "Traceback" not in err


def test_missing_file_and_unknown_environment_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["setup", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "file not found" in capsys.readouterr().err
    config = tmp_path / "c.toml"
    config.write_text("")
    monkeypatch.setenv("DUALWRITE_MONITOR_POSTGRES_DNS", "typo")
    assert main(["setup", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "DUALWRITE_MONITOR_POSTGRES_DNS" in err and "unknown environment variable" in err


def test_naive_since_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "counts", "--since", "2026-01-01T00:00:00"])
    assert exit_info.value.code == 2
    assert "no time zone" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("2d", timedelta(days=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@given(st.text(max_size=12))
def test_parse_duration_accepts_only_the_documented_form(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError:
        return
    assert value >= timedelta(0)
    assert text.strip() and text.strip()[-1] in "smhd"


def test_config_error_message_names_key() -> None:
    error = ConfigError("a.b", "is wrong")
    assert str(error) == "configuration error: a.b: is wrong"


def test_partition_values_must_name_every_partition_column() -> None:
    from monitor.config import settings_from_dict

    known = settings_from_dict({"mapping": {"partition_values": {"service_name": ["A", "B"]}}})
    assert known.table_mapping().known_partitions == {("A",), ("B",)}
    assert Settings().table_mapping().known_partitions is None
    with pytest.raises(ConfigError, match="mapping.partition_values"):
        settings_from_dict({"mapping": {"partition_values": {"log_type": ["Error"]}}})


ANOTHER_TEAM = """
[mapping]
sql_table = "audit.events"
key_column = "event_id"
timestamp_column = "occurred_at"
status_column = "state"
partition_key_template = "EVT#{tenant}#{occurred_at:%Y-%m}"
sort_key_template = "{occurred_at:%Y-%m-%dT%H:%M:%S.%fZ}#{event_id}"
"""


def test_another_teams_mapping_may_omit_what_describes_the_default_model(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(ANOTHER_TEAM)
    settings = load_settings(config, environ={})
    # Omitted optional keys mean "none", not the default model's index, fields and rules.
    assert settings.mapping.pending_index is None
    assert settings.table_mapping().pending_index is None
    assert settings.mapping.fields == ()


def test_another_teams_mapping_keeps_what_it_writes(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        ANOTHER_TEAM + 'pending_index = { name = "P", partition_key = "G", sort_key = "GS",'
        ' partition_key_template = "P#{occurred_at:%Y-%m-%d}" }\n'
        + 'fields = [{ column = "state", attribute = "State" }]\n'
    )
    settings = load_settings(config, environ={})
    assert settings.mapping.pending_index is not None
    assert settings.mapping.pending_index.name == "P"
    assert [f.column for f in settings.mapping.fields] == ["state"]


def test_the_default_mapping_keeps_its_pending_index(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[mapping]\nsql_table = "integration_logs"\nstatus_column = "write_status"\n')
    settings = load_settings(config, environ={})
    assert settings.mapping.pending_index == Settings().mapping.pending_index
    assert settings.mapping.fields == Settings().mapping.fields


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[alerts]\nrunbook_url = "README.md#alerts"\n', "alerts.runbook_url"),
        ('[alerts]\nrunbook_url = "ftp://wiki/x"\n', "alerts.runbook_url"),
        ('[telemetry]\npublic_url = "monitor.internal:9464"\n', "telemetry.public_url"),
    ],
)
def test_runbook_links_must_be_absolute_http_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    assert main(["check", "counts", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert key in err and "absolute http(s) URL" in err and err.count("\n") == 1, err


def test_alerts_link_to_the_daemons_runbook_when_public_url_is_set() -> None:
    public = Settings.model_validate(
        {
            "telemetry": {"public_url": "http://monitor.svc:9464/"},
            "alerts": {"runbook_url": "https://wiki.example/dw#{rule}"},
        }
    )
    assert public.runbook_template() == "http://monitor.svc:9464/runbook#{rule}"
    wiki = Settings.model_validate({"alerts": {"runbook_url": "https://wiki.example/dw#{rule}"}})
    assert wiki.runbook_template() == "https://wiki.example/dw#{rule}"
    assert Settings().runbook_template() == ""
