"""The deployment artefacts pass scripts/validate-deploy, and each check catches what it guards.

Every check of `deploy.validation` runs once against the committed files (skipped, with the
reason, where its tool is not installed: systemd-analyze, kubernetes-validate, promtool), then
once against a copy with a planted fault, so a check that cannot fail would show here.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from deploy.validation import DASHBOARD, KUBERNETES, PROMETHEUS, ROOT, UNIT, Outcome, Skip
from deploy.validation.__main__ import CHECKS
from deploy.validation.dashboard import INSTRUMENTS, check_dashboard, prometheus_name
from deploy.validation.kubernetes import (
    check_configmap,
    check_kubernetes_manifests,
    check_kubernetes_schemas,
    check_kustomization,
    load_manifests,
)
from deploy.validation.prometheus import check_prometheus
from deploy.validation.systemd import (
    check_systemd_security,
    check_systemd_verify,
    check_unit_contents,
    parse_timespan,
)


def outcome_of(check: Callable[[], Outcome]) -> Outcome:
    try:
        return check()
    except Skip as skip:
        pytest.skip(str(skip))


def problems(check: Callable[[], Outcome]) -> str:
    return "\n".join(outcome_of(check).problems)


@pytest.mark.parametrize("name", list(CHECKS))
def test_committed_artefact_passes(name: str) -> None:
    assert outcome_of(CHECKS[name]).problems == []


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "validate-deploy"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_validate_deploy_script() -> None:
    # Each check runs above; here only the script's wiring, with the two fastest checks.
    assert _script("--list").stdout.split() == list(CHECKS)
    result = _script("unit-contents", "dashboard")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [
        ["ok", "unit-contents"],
        ["ok", "dashboard"],
    ]
    assert _script("no-such-check").returncode == 2


# --- systemd ---------------------------------------------------------------------------------


def test_unit_contents_names_each_missing_promise() -> None:
    text = (
        UNIT.read_text()
        .replace("Type=notify", "Type=simple")
        .replace("TimeoutStopSec=30s", "TimeoutStopSec=15s")
        .replace("LoadCredential=slack-bot-token:dualwrite-monitor.slack-bot-token\n", "")
    )
    found = problems(lambda: check_unit_contents(text))
    assert "Type=simple, expected notify" in found
    assert "TimeoutStopSec=15s must exceed the drain deadline (20s)" in found
    assert "LoadCredential= names" in found


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30), ("90", 90), ("5min", 300), ("1min 30s", 90), ("250ms", 0.25), ("1h", 3600)],
)
def test_timespans(text: str, expected: float) -> None:
    assert parse_timespan(text).total_seconds() == expected


def _unit_copy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / UNIT.name
    path.write_text(text)
    return path


def test_verify_fails_on_a_typo_that_systemd_only_warns_about(tmp_path: Path) -> None:
    unit = _unit_copy(tmp_path, UNIT.read_text().replace("ProtectHome=yes", "ProtectHome=yse"))
    found = problems(lambda: check_systemd_verify(unit))
    assert "(rc 0)" in found and "protect home value, ignoring: yse" in found


def test_verify_fails_when_the_command_is_not_absolute(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("ExecStart=/opt/dualwrite-monitor/bin/", "ExecStart=bin/")
    found = problems(lambda: check_systemd_verify(_unit_copy(tmp_path, text)))
    assert "bad unit file setting" in found


def test_security_fails_when_hardening_is_lost(tmp_path: Path) -> None:
    kept = [
        line
        for line in UNIT.read_text().splitlines()
        if not line.startswith(("Protect", "Private", "Restrict", "SystemCall", "Capability"))
    ]
    unit = _unit_copy(tmp_path, "\n".join(kept) + "\n")
    assert "is above 1.2" in problems(lambda: check_systemd_security(unit))


# --- Kubernetes ------------------------------------------------------------------------------


def test_schema_check_rejects_an_unknown_field(tmp_path: Path) -> None:
    bad = tmp_path / "deployment.yaml"
    bad.write_text(
        (KUBERNETES / "deployment.yaml").read_text().replace("timeoutSeconds", "timeoutSecond")
    )
    assert "timeoutSecond" in problems(lambda: check_kubernetes_schemas([bad]))


def test_wiring_check_catches_what_a_schema_cannot() -> None:
    docs = copy.deepcopy(load_manifests())
    pod = docs["Deployment/dualwrite-monitor"]["spec"]["template"]["spec"]
    pod["enableServiceLinks"] = True
    pod["terminationGracePeriodSeconds"] = 20
    env = pod["containers"][0]["env"]
    next(e for e in env if e["name"] == "DUALWRITE_MONITOR_HA_ENABLED")["name"] = (
        "DUALWRITE_MONITOR_HA_ENABLE"
    )
    docs["Service/dualwrite-monitor"]["spec"]["selector"]["app.kubernetes.io/component"] = "x"
    docs["ServiceMonitor/dualwrite-monitor"]["spec"]["endpoints"][0]["port"] = "metrics"
    found = problems(lambda: check_kubernetes_manifests(docs))
    assert "enableServiceLinks must be false" in found
    assert "terminationGracePeriodSeconds 20 <= drain 20.0s" in found
    assert "would refuse to start" in found and "DUALWRITE_MONITOR_HA_ENABLE" in found
    assert "Service: selector does not match" in found
    assert "ServiceMonitor: endpoints must scrape a Service port" in found


def test_wiring_check_requires_ha_and_a_reachable_listener() -> None:
    docs = copy.deepcopy(load_manifests())
    env = docs["Deployment/dualwrite-monitor"]["spec"]["template"]["spec"]["containers"][0]["env"]
    for entry in env:
        if entry["name"] == "DUALWRITE_MONITOR_HA_ENABLED":
            entry["value"] = "false"
        if entry["name"] == "DUALWRITE_MONITOR_TELEMETRY_LISTEN":
            entry["value"] = "127.0.0.1:9464"
    found = problems(lambda: check_kubernetes_manifests(docs))
    assert "HA_ENABLED must be true" in found and "listen 127.0.0.1:9464 unreachable" in found


def test_kustomization_must_list_every_manifest(tmp_path: Path) -> None:
    directory = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, directory)
    (directory / "networkpolicy.yaml").write_text("kind: NetworkPolicy\n")
    assert "does not list ['networkpolicy.yaml']" in problems(
        lambda: check_kustomization(directory)
    )


def test_configmap_check_notices_a_changed_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text() + '\n[extra]\nkey = "x"\n')
    assert "configmap.yaml is stale" in problems(lambda: check_configmap(config))


def _make_configmap() -> Any:
    from deploy.validation.kubernetes import _configmap_module

    return _configmap_module()


_LINE = st.text(
    alphabet=st.sampled_from([*map(chr, range(0x20, 0x7F)), "é", "§", "×", "→", "€"]),
    max_size=30,
)


@settings(deadline=None)  # YAML parsing time is not what this test is about
@given(first=_LINE.filter(lambda s: s[:1] not in ("", " ")), rest=st.lists(_LINE, max_size=8))
def test_configmap_round_trips_any_config_text(first: str, rest: list[str]) -> None:
    lines = [first, *rest]
    while not lines[-1]:
        lines.pop()
    text = "\n".join(lines) + "\n"
    document = yaml.safe_load(_make_configmap().render(text))
    assert document["data"]["config.toml"] == text


@pytest.mark.parametrize("text", ["  indented = 1\n", "a = 1", "a = 1\n\n", "a\t= 1\n"])
def test_configmap_refuses_text_yaml_would_change(text: str) -> None:
    with pytest.raises(ValueError, match="config.toml must"):
        _make_configmap().render(text)


def test_make_configmap_check_mode(tmp_path: Path) -> None:
    script = ROOT / "deploy" / "make-configmap.py"
    stale = tmp_path / "configmap.yaml"
    stale.write_text("old\n")
    run = [sys.executable, str(script), "--output", str(stale)]
    assert subprocess.run([*run, "--check"], capture_output=True, check=False).returncode == 1
    assert subprocess.run(run, capture_output=True, check=False).returncode == 0
    assert subprocess.run([*run, "--check"], capture_output=True, check=False).returncode == 0
    assert stale.read_text() == (KUBERNETES / "configmap.yaml").read_text()


# --- Grafana ---------------------------------------------------------------------------------


def test_prometheus_names_follow_the_exporter() -> None:
    assert prometheus_name("dualwrite.consistency") == "dualwrite_consistency"
    assert prometheus_name("dualwrite.check.runs") == "dualwrite_check_runs_total"
    assert prometheus_name("dualwrite.check.duration") == "dualwrite_check_duration_seconds"


def test_naming_rule_matches_the_installed_exporter() -> None:
    pytest.importorskip("opentelemetry.exporter.prometheus")
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    meter = provider.get_meter("names")
    try:
        for instrument, (kind, unit) in INSTRUMENTS.items():
            if kind == "counter":
                meter.create_counter(instrument, unit=unit).add(1)
            elif kind == "histogram":
                meter.create_histogram(instrument, unit=unit).record(1.0)
            else:
                meter.create_gauge(instrument, unit=unit).set(1)
        exposed = {
            line.split("{")[0].split(" ")[0]
            for line in generate_latest(registry).decode().splitlines()
            if line.startswith("dualwrite_")
        }
    finally:
        provider.shutdown()
    for instrument, (kind, _) in INSTRUMENTS.items():
        name = prometheus_name(instrument)
        assert (f"{name}_bucket" if kind == "histogram" else name) in exposed, instrument


def test_dashboard_check_names_missing_and_unknown_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        panel["targets"] = [
            t for t in panel.get("targets", []) if "dualwrite_leader" not in t["expr"]
        ]
    dashboard["panels"][1]["targets"][0]["expr"] = "dualwrite_consistency_ratio"
    found = problems(lambda: check_dashboard(dashboard))
    assert "no panel shows dualwrite.leader (dualwrite_leader)" in found
    assert "'dualwrite_consistency_ratio'" in found


# --- Prometheus ------------------------------------------------------------------------------


def test_rule_tests_fail_when_a_rule_is_broken(tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, directory)
    rules = directory / "rules.yml"
    rules.write_text(rules.read_text().replace("(dualwrite_leader) > 1", "(dualwrite_leader) > 2"))
    assert "DualwriteSplitBrain" in problems(lambda: check_prometheus(directory))
