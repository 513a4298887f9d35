"""The Kubernetes manifests: schemas (kubernetes-validate --strict) and their wiring."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from deploy.validation import (
    CONFIG,
    KUBERNETES,
    ROOT,
    Outcome,
    drain_timeout,
    run,
    tool,
    yaml_module,
)

#: Oldest Kubernetes we support and the newest schemas kubernetes-validate bundles.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
#: Manifests applied with `kubectl apply -k`; the ServiceMonitor needs the operator's CRD.
OPERATOR_MANIFESTS = frozenset({"servicemonitor.yaml"})
NAMESPACE = "dualwrite-monitor"


def kustomization_resources(directory: Path = KUBERNETES) -> list[Path]:
    document = yaml_module().safe_load((directory / "kustomization.yaml").read_text())
    return [directory / name for name in document["resources"]]


def check_kubernetes_schemas(files: Iterable[Path] | None = None) -> Outcome:
    """kubernetes-validate --strict (unknown fields are errors) for every supported version."""
    validate = tool("kubernetes-validate")
    paths = [str(p) for p in (kustomization_resources() if files is None else files)]
    out = Outcome()
    for version in KUBERNETES_VERSIONS:
        result = run([validate, "--strict", "--quiet", "-k", version, *paths])
        text = (result.stdout + result.stderr).strip()
        if result.returncode != 0 or text:
            out.problems.append(f"kubernetes-validate {version} (rc {result.returncode}): {text}")
    out.notes.append(f"{len(paths)} manifests, Kubernetes {', '.join(KUBERNETES_VERSIONS)}")
    return out


def load_manifests(directory: Path = KUBERNETES) -> dict[str, dict[str, Any]]:
    """Every manifest in the directory, by `Kind/name` (one document per file)."""
    yaml = yaml_module()
    manifests: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        document = yaml.safe_load(path.read_text())
        manifests[f"{document['kind']}/{document['metadata']['name']}"] = document
    return manifests


def check_kubernetes_manifests(manifests: Mapping[str, dict[str, Any]] | None = None) -> Outcome:
    """What the schema cannot see: labels that match, env the monitor accepts, safe settings."""
    docs = load_manifests() if manifests is None else manifests
    out = Outcome()
    try:
        deployment = docs["Deployment/dualwrite-monitor"]
        service = docs["Service/dualwrite-monitor"]
        budget = docs["PodDisruptionBudget/dualwrite-monitor"]
        monitor = docs["ServiceMonitor/dualwrite-monitor"]
        config_map = docs["ConfigMap/dualwrite-monitor-config"]
    except KeyError as missing:
        return Outcome([f"manifest {missing.args[0]} is missing"])
    for key, doc in docs.items():
        if doc["kind"] != "Namespace" and doc["metadata"].get("namespace") != NAMESPACE:
            out.problems.append(f"{key}: metadata.namespace must be {NAMESPACE}")
    pod = deployment["spec"]["template"]
    out.problems += _pod_problems(deployment, pod["spec"])
    out.problems += _container_problems(pod["spec"]["containers"][0], pod["metadata"])
    out.problems += _wiring_problems(deployment, service, budget, monitor, config_map)
    return out


def _pod_problems(deployment: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    problems = []
    if deployment["spec"].get("replicas") != 2:
        problems.append("Deployment: replicas must be 2 (leader + standby)")
    if spec.get("enableServiceLinks") is not False:
        problems.append(
            "Deployment: enableServiceLinks must be false (service links inject "
            "DUALWRITE_MONITOR_* variables the monitor rejects)"
        )
    grace = spec.get("terminationGracePeriodSeconds", 30)
    drain = drain_timeout().total_seconds()
    if grace <= drain:
        problems.append(f"Deployment: terminationGracePeriodSeconds {grace} <= drain {drain}s")
    security = spec.get("securityContext", {})
    if security.get("runAsNonRoot") is not True:
        problems.append("Deployment: pod securityContext.runAsNonRoot must be true")
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("Deployment: pod seccompProfile must be RuntimeDefault")
    return problems


def _container_problems(container: dict[str, Any], pod_meta: dict[str, Any]) -> list[str]:
    problems = []
    security = container.get("securityContext", {})
    if security.get("readOnlyRootFilesystem") is not True:
        problems.append("container: readOnlyRootFilesystem must be true")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append("container: allowPrivilegeEscalation must be false")
    if security.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append("container: capabilities.drop must be [ALL]")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        if "memory" not in resources.get(part, {}):
            problems.append(f"container: resources.{part}.memory is missing")
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        if container.get(probe, {}).get("httpGet", {}).get("path") != path:
            problems.append(f"container: {probe} must GET {path}")
    settings, env_problems = _settings_from_env(container.get("env", []))
    problems += env_problems
    if settings is not None:
        if not settings.ha.enabled:
            problems.append("container: DUALWRITE_MONITOR_HA_ENABLED must be true")
        host, _, port = settings.telemetry.listen.rpartition(":")
        ports = {p["containerPort"] for p in container.get("ports", [])}
        if host != "0.0.0.0" or int(port) not in ports:
            problems.append(f"container: telemetry listen {settings.telemetry.listen} unreachable")
        if pod_meta.get("annotations", {}).get("prometheus.io/port") != port:
            problems.append("pod annotation prometheus.io/port differs from the listener")
    return problems


def _settings_from_env(env: list[dict[str, Any]]) -> tuple[Any, list[str]]:
    """Load config.toml with the container's environment, as the monitor will at start."""
    from monitor.config import CREDENTIALS, load_settings
    from monitor.errors import ConfigError

    problems = []
    environ: dict[str, str] = {}
    for entry in env:
        secret = entry.get("valueFrom", {}).get("secretKeyRef")
        if secret is not None and secret["key"] not in CREDENTIALS:
            problems.append(f"container: secret key {secret['key']!r} is not a known credential")
        # Secrets and downward-API values are only known in the cluster; any text of the
        # right shape will do (a DSN is checked when the settings load).
        placeholder = (
            "postgresql://placeholder@placeholder/placeholder"
            if entry["name"].endswith("_DSN")
            else "placeholder"
        )
        environ[entry["name"]] = entry.get("value", placeholder)
    try:
        return load_settings(CONFIG, environ=environ), problems
    except ConfigError as exc:
        return None, [*problems, f"container env: the monitor would refuse to start: {exc}"]


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _wiring_problems(
    deployment: dict[str, Any],
    service: dict[str, Any],
    budget: dict[str, Any],
    monitor: dict[str, Any],
    config_map: dict[str, Any],
) -> list[str]:
    problems = []
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    container = pod["spec"]["containers"][0]
    port_names = {p["name"] for p in container.get("ports", [])}
    if not _selects(service["spec"]["selector"], labels):
        problems.append("Service: selector does not match the pod labels")
    if {p["targetPort"] for p in service["spec"]["ports"]} - port_names:
        problems.append("Service: targetPort names no container port")
    if not _selects(budget["spec"]["selector"]["matchLabels"], labels):
        problems.append("PodDisruptionBudget: selector does not match the pod labels")
    if not 1 <= budget["spec"].get("minAvailable", 0) < deployment["spec"]["replicas"]:
        problems.append("PodDisruptionBudget: minAvailable must be 1..replicas-1")
    if monitor["apiVersion"] != "monitoring.coreos.com/v1":
        problems.append("ServiceMonitor: apiVersion must be monitoring.coreos.com/v1")
    if not _selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"]):
        problems.append("ServiceMonitor: selector does not match the Service labels")
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        if endpoint.get("port") not in service_ports or endpoint.get("path") != "/metrics":
            problems.append("ServiceMonitor: endpoints must scrape a Service port at /metrics")
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    config_path = Path(container["args"][container["args"].index("--config") + 1])
    volume = volumes.get(mounts.get(str(config_path.parent), ""), {})
    if volume.get("configMap", {}).get("name") != config_map["metadata"]["name"]:
        problems.append(f"Deployment: --config {config_path} is not on the ConfigMap's volume")
    if config_path.name not in config_map["data"]:
        problems.append(f"ConfigMap: no {config_path.name} key")
    return problems


def check_kustomization(directory: Path = KUBERNETES) -> Outcome:
    """Every manifest is applied by `kubectl apply -k`, except the operator's ServiceMonitor."""
    listed = {p.name for p in kustomization_resources(directory)}
    present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    out = Outcome()
    if missing := sorted(present - listed - OPERATOR_MANIFESTS):
        out.problems.append(f"kustomization.yaml does not list {missing}")
    if absent := sorted(listed - present):
        out.problems.append(f"kustomization.yaml lists missing files {absent}")
    return out


def _configmap_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_configmap", ROOT / "deploy" / "make-configmap.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_configmap(
    config: Path = CONFIG, committed: Path = KUBERNETES / "configmap.yaml"
) -> Outcome:
    """The committed ConfigMap carries config.toml byte for byte (regenerate when it drifts)."""
    out = Outcome()
    config_text = config.read_text(encoding="utf-8")
    current = committed.read_text(encoding="utf-8")
    if _configmap_module().render(config_text) != current:
        out.problems.append(f"{committed.name} is stale: run deploy/make-configmap.py")
    elif yaml_module().safe_load(current)["data"]["config.toml"] != config_text:
        out.problems.append(f"{committed.name} does not parse back to config.toml")
    return out
