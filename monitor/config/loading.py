"""Where settings come from: config.toml, `DUALWRITE_MONITOR_*` environment overrides, systemd credentials."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from monitor.config.domain import quality_plan
from monitor.config.settings import Settings
from monitor.config.values import Section
from monitor.core.mapping import (
    TemplateError,
)
from monitor.core.sqlnames import index_names
from monitor.errors import ConfigError

ENV_PREFIX = "DUALWRITE_MONITOR_"


CONFIG_ENV = "DUALWRITE_MONITOR_CONFIG"


DEFAULT_CONFIG_PATH = Path("config.toml")


_SECRET_ENV = {
    "SLACK_WEBHOOK_URL": ("alerts", "slack_webhook_url"),
    "SLACK_BOT_TOKEN": ("alerts", "slack_bot_token"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("telemetry", "otlp_endpoint"),
}


CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"


# systemd LoadCredential= names -> (the environment variable that wins over it, settings key).
CREDENTIALS = {
    "postgres-dsn": ("DUALWRITE_MONITOR_POSTGRES_DSN", ("postgres", "dsn")),
    "slack-webhook": ("SLACK_WEBHOOK_URL", ("alerts", "slack_webhook_url")),
    "slack-bot-token": ("SLACK_BOT_TOKEN", ("alerts", "slack_bot_token")),
}


def _apply_credentials(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """Secrets handed over by systemd as files in $CREDENTIALS_DIRECTORY (absent files skipped).

    Precedence: environment variable, then credential file, then config.toml. A file is read
    only when its variable is unset, and its content never appears in an error.
    """
    directory = env.get(CREDENTIALS_ENV)
    if not directory:
        return
    for name, (variable, target) in CREDENTIALS.items():
        if env.get(variable):
            continue
        path = Path(directory) / name
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except UnicodeDecodeError:
            raise ConfigError(f"credential {path}", "not UTF-8 text") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(f"credential {path}", f"cannot read: {reason}") from None
        if not value:
            raise ConfigError(f"credential {path}", "file is empty (remove it or fill it)")
        _set(data, target, value)


def load_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the file (if any), apply the environment, validate. Raises ConfigError."""
    env = os.environ if environ is None else environ
    if path is None:
        path = Path(env.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    data = _read_toml(path)
    _apply_credentials(data, env)
    _apply_environment(data, env)
    return settings_from_dict(data, source=str(path))


def settings_from_dict(data: Mapping[str, Any], *, source: str = "config") -> Settings:
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"]) or "(top level)"
        raise ConfigError(key, _humanise(error)) from None
    try:
        settings.table_mapping()
    except TemplateError as exc:
        raise ConfigError(f"mapping.{exc.template or 'templates'}", str(exc)) from None
    try:
        # The index names `setup` derives are checked now, before anything is created.
        index_names(settings.mapping.sql_table)
    except ValueError as exc:
        raise ConfigError("mapping.sql_table", str(exc)) from None
    quality_plan(settings)
    return settings


def _humanise(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against config.toml)"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found (pass --config PATH)") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None


def _env_names(model: type[BaseModel], path: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Every scalar key's environment variable name -> its path in the settings tree."""
    names: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            names |= _env_names(annotation, (*path, name))
        else:
            names[ENV_PREFIX + "_".join((*path, name)).upper()] = (*path, name)
    return names


_ENV_KEYS = _env_names(Settings, ())


def _apply_environment(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for variable, target in _SECRET_ENV.items():
        if env.get(variable):
            _set(data, target, env[variable])
    for variable, value in env.items():
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_ENV:
            continue
        key_path = _ENV_KEYS.get(variable)
        if key_path is None:
            raise ConfigError(variable, "unknown environment variable for dualwrite-monitor")
        _set(data, key_path, _env_value(variable, value))


def _env_value(variable: str, value: str) -> Any:
    """Structured keys (tables, lists) are written as JSON in the environment."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(variable, f"not valid JSON: {exc.msg}") from None
    return value


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(".".join(path), "expected a table")
        node = child
    node[path[-1]] = value
