"""Secrets from systemd credentials ($CREDENTIALS_DIRECTORY/<name>, LoadCredential=)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import CREDENTIALS, load_settings
from monitor.errors import ConfigError

DSN = "postgresql://monitor:s3cret-pw@db.internal:5432/loans"
WEBHOOK = "https://hooks.slack.example/T000/B000/XXXX"
TOKEN = "xoxb-0000-not-a-real-token"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[postgres]\ndsn = "postgresql://from-the-file/loans"\n')
    return path


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    return directory


def test_every_secret_is_read_from_its_credential_file(config: Path, credentials: Path) -> None:
    # systemd copies the file byte for byte; editors add a final newline, which is not secret.
    (credentials / "postgres-dsn").write_text(DSN + "\n")
    (credentials / "slack-webhook").write_text(WEBHOOK)
    (credentials / "slack-bot-token").write_text(TOKEN + "\r\n")
    settings = load_settings(config, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert settings.postgres.dsn.get_secret_value() == DSN
    assert settings.alerts.slack_webhook_url.get_secret_value() == WEBHOOK
    assert settings.alerts.slack_bot_token.get_secret_value() == TOKEN
    assert "s3cret-pw" not in repr(settings) and TOKEN not in str(settings)


def test_the_names_are_the_ones_the_unit_file_loads() -> None:
    unit = (Path(__file__).resolve().parents[2] / "systemd/dualwrite-monitor.service").read_text()
    for name in CREDENTIALS:
        assert f"LoadCredential={name}:" in unit, name


def test_environment_variable_wins_and_the_file_is_not_read(
    config: Path, credentials: Path
) -> None:
    # A directory where the file should be cannot be read: reaching it would raise.
    (credentials / "postgres-dsn").mkdir()
    (credentials / "slack-webhook").write_text(WEBHOOK)
    settings = load_settings(
        config,
        environ={
            "CREDENTIALS_DIRECTORY": str(credentials),
            "DUALWRITE_MONITOR_POSTGRES_DSN": DSN,
            "SLACK_WEBHOOK_URL": "https://hooks.slack.example/from-env",
        },
    )
    assert settings.postgres.dsn.get_secret_value() == DSN
    assert settings.alerts.slack_webhook_url.get_secret_value() == (
        "https://hooks.slack.example/from-env"
    )


def test_missing_files_and_no_directory_leave_the_file_values(
    config: Path, credentials: Path
) -> None:
    (credentials / "slack-webhook").write_text(WEBHOOK)
    settings = load_settings(config, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert settings.postgres.dsn.get_secret_value() == "postgresql://from-the-file/loans"
    assert settings.alerts.slack_webhook_url.get_secret_value() == WEBHOOK
    assert settings.alerts.slack_bot_token.get_secret_value() == ""

    (credentials / "postgres-dsn").write_text(DSN)
    unset = load_settings(config, environ={})
    assert unset.postgres.dsn.get_secret_value() == "postgresql://from-the-file/loans"


def test_unreadable_credential_is_a_config_error_naming_the_file(
    config: Path, credentials: Path
) -> None:
    (credentials / "postgres-dsn").mkdir()
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert str(error.value) == (
        f"configuration error: credential {credentials / 'postgres-dsn'}: "
        "cannot read: Is a directory"
    )


def test_binary_credential_is_rejected_without_echoing_it(config: Path, credentials: Path) -> None:
    (credentials / "slack-bot-token").write_bytes(b"xoxb-\xff\xfe-secret")
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert "not UTF-8 text" in str(error.value) and "xoxb" not in str(error.value)


def test_empty_credential_exits_2_with_one_line(
    config: Path,
    credentials: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (credentials / "slack-webhook").write_text("\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    assert main(["check", "counts", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "slack-webhook" in err and "file is empty" in err and "Traceback" not in err
