"""The ready-to-run change that goes with a recommendation: a `kubectl patch` line and YAML.

Pure text building; shell quoting with `shlex` so names can never break out of the command.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml

from services.recommendations.models import MIB, WorkloadKey

PAUSE_LABEL = "costbot/paused"  # a nodeSelector no node carries: a DaemonSet runs nowhere


def cpu_quantity(cores: float) -> str:
    """Cores as a Kubernetes quantity in millicores ("250m")."""
    return f"{round(cores * 1000)}m"


def memory_quantity(size: float) -> str:
    """Bytes as a Kubernetes quantity in mebibytes ("512Mi")."""
    return f"{round(size / MIB)}Mi"


def resources_body(container: str, cpu: float, memory: float) -> dict[str, Any]:
    """Strategic-merge body: CPU request, memory request = limit, matched by container name."""
    resources = {
        "requests": {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)},
        "limits": {"memory": memory_quantity(memory)},
    }
    container_spec = {"name": container, "resources": resources}
    return {"spec": {"template": {"spec": {"containers": [container_spec]}}}}


def pause_body(kind: str) -> dict[str, Any]:
    """Stop a workload reversibly: zero replicas, or (DaemonSets) a nodeSelector nothing has."""
    if kind == "daemonset":
        return {"spec": {"template": {"spec": {"nodeSelector": {PAUSE_LABEL: "true"}}}}}
    return {"spec": {"replicas": 0}}


RECLAIM_DELETE: dict[str, Any] = {"spec": {"persistentVolumeReclaimPolicy": "Delete"}}


def kubectl(key: WorkloadKey, *, context: bool = False) -> str:
    """`kubectl`, with `--context CLUSTER` when `context` (several clusters configured: a line
    run against the wrong cluster would change a namespace of the same name there)."""
    return f"kubectl --context {shlex.quote(key.cluster)}" if context and key.cluster else "kubectl"


def kubectl_patch(key: WorkloadKey, body: dict[str, Any], *, context: bool = False) -> str:
    """`kubectl [--context C] [-n NS] patch KIND NAME --type=strategic -p '<json>'`; no -n if
    cluster-scoped."""
    payload = json.dumps(body, separators=(",", ":"), sort_keys=False)
    namespace = f"-n {shlex.quote(key.namespace)} " if key.namespace else ""
    return (
        f"{kubectl(key, context=context)} {namespace}patch {key.kind} "
        f"{shlex.quote(key.controller)} --type=strategic -p {shlex.quote(payload)}"
    )


def release_volume_command(key: WorkloadKey, *, context: bool = False) -> str:
    """Deleting a PV whose reclaim policy is Retain keeps the cloud disk; make it Delete first."""
    name = shlex.quote(key.controller)
    patch = kubectl_patch(key, RECLAIM_DELETE, context=context)
    return f"{patch} && {kubectl(key, context=context)} delete persistentvolume {name}"


def yaml_snippet(body: dict[str, Any]) -> str:
    """The same change as a YAML fragment to merge into the manifest (GitOps users)."""
    return yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
