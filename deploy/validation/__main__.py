"""`python -m deploy.validation [CHECK ...]`: run the checks (default all); --list names them."""

from __future__ import annotations

import sys
from collections.abc import Callable

from deploy.validation import Outcome, Skip
from deploy.validation.dashboard import check_dashboard
from deploy.validation.kubernetes import (
    check_configmap,
    check_kubernetes_manifests,
    check_kubernetes_schemas,
    check_kustomization,
)
from deploy.validation.prometheus import check_prometheus
from deploy.validation.systemd import (
    check_systemd_security,
    check_systemd_verify,
    check_unit_contents,
)

CHECKS: dict[str, Callable[[], Outcome]] = {
    "unit-contents": check_unit_contents,
    "systemd-verify": check_systemd_verify,
    "systemd-security": check_systemd_security,
    "kubernetes-schemas": check_kubernetes_schemas,
    "kubernetes-manifests": check_kubernetes_manifests,
    "kustomization": check_kustomization,
    "configmap": check_configmap,
    "dashboard": check_dashboard,
    "prometheus": check_prometheus,
}


def main(argv: list[str]) -> int:
    if "--list" in argv:
        sys.stdout.write("".join(f"{name}\n" for name in CHECKS))
        return 0
    unknown = [name for name in argv if name not in CHECKS]
    if unknown:
        sys.stderr.write(f"validate-deploy: unknown check {unknown}; --list names them\n")
        return 2
    failed = False
    for name in argv or list(CHECKS):
        try:
            outcome = CHECKS[name]()
        except Skip as skip:
            sys.stdout.write(f"SKIP {name}: {skip}\n")
            continue
        for problem in outcome.problems:
            sys.stdout.write(f"FAIL {name}: {problem}\n")
        if not outcome.problems:
            notes = f" ({'; '.join(outcome.notes)})" if outcome.notes else ""
            sys.stdout.write(f"ok   {name}{notes}\n")
        failed = failed or bool(outcome.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
