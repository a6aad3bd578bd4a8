"""Checks on what ships: Dockerfile, kustomize base in deploy/, and the Slack app manifest.

Each test reads the real files; kubectl renders the kustomize base, kubernetes-validate checks it.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from bot.doctor import BOT_SCOPES

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
K8S_VERSION = kubernetes_validate.latest_version()

READ_VERBS = {"get", "list", "watch"}


# --- helpers -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    joined: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    pairs = []
    for line in joined:
        word, _, rest = line.partition(" ")
        pairs.append((word.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    """Instructions of the last build stage (from its FROM on)."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's exec-form command, options stripped."""
    (args,) = [rest for word, rest in dockerfile_instructions() if word == "HEALTHCHECK"]
    _, _, command = args.partition("CMD ")
    parsed = json.loads(command)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def render(overlay: Path) -> list[dict[str, Any]]:
    """Objects from `kubectl kustomize OVERLAY`."""
    if not Path(KUBECTL).exists():
        pytest.skip("kubectl is not installed; cannot render the kustomize overlays")
    result = subprocess.run(
        [KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def validate(obj: dict[str, Any]) -> None:
    """Strict schema validation; fails with the path and message, not the whole schema."""
    problem = ""
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "."
        problem = f"{obj['kind']}/{obj['metadata']['name']} at {where}: {exc.message}"
    assert not problem, problem


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    """Objects from `kubectl kustomize deploy/`."""
    return render(DEPLOY)


@pytest.fixture(scope="module")
def container(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    pod = find(rendered, "Deployment", "costbot")["spec"]["template"]["spec"]
    (only,) = pod["containers"]
    assert isinstance(only, dict)
    return only


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return


@pytest.fixture
def health_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Health]]]:
    handler = type("Health", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_healthcheck(port: int) -> int:
    command = healthcheck_command()
    assert command[0] == "python"
    env = {"PORT": str(port), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30, check=False
    )
    return result.returncode


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_final_image_is_slim_python_and_runs_as_numeric_non_root_user() -> None:
    stage = final_stage()
    assert stage[0] == ("FROM", "python:3.11-slim")
    users = [rest for word, rest in stage if word == "USER"]
    assert users, "final stage has no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) == 10001


def test_dockerfile_is_multi_stage_and_installs_no_dev_extras() -> None:
    instructions = dockerfile_instructions()
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert len(froms) >= 2
    assert froms[0].endswith(" AS builder")
    assert any(word == "COPY" and "--from=builder" in rest for word, rest in final_stage())
    assert "[dev]" not in DOCKERFILE.read_text()


def test_dockerfile_sets_runtime_environment_port_and_command() -> None:
    stage = final_stage()
    env = " ".join(rest for word, rest in stage if word == "ENV")
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "DATA_DIR=/data"):
        assert setting in env
    assert ("EXPOSE", "3000") in stage
    cmds = [rest for word, rest in stage if word == "CMD"]
    assert cmds
    assert json.loads(cmds[-1]) == ["costbot", "serve"]


def test_image_command_is_the_declared_console_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["costbot"] == "bot.cli:main"


def test_healthcheck_passes_against_a_healthy_server(
    health_server: tuple[ThreadingHTTPServer, type[_Health]],
) -> None:
    server, _ = health_server
    assert run_healthcheck(server.server_address[1]) == 0


def test_healthcheck_fails_when_healthz_answers_an_error(
    health_server: tuple[ThreadingHTTPServer, type[_Health]],
) -> None:
    server, handler = health_server
    handler.status = 503
    assert run_healthcheck(server.server_address[1]) != 0


def test_healthcheck_fails_when_nothing_listens(
    health_server: tuple[ThreadingHTTPServer, type[_Health]],
) -> None:
    server, _ = health_server
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    assert run_healthcheck(port) != 0


def test_builder_copies_every_package_the_project_ships() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    copied = " ".join(rest for word, rest in dockerfile_instructions() if word == "COPY")
    for pattern in packages["packages"]["find"]["include"]:
        assert f" ./{pattern.rstrip('*')}" in copied


def test_dockerignore_keeps_local_state_out_but_not_build_inputs() -> None:
    patterns = dockerignore_patterns()
    for excluded in (".git", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"):
        assert excluded in patterns
    sources = []
    for word, rest in dockerfile_instructions():
        if word == "COPY" and "--from=" not in rest:
            sources += rest.split()[:-1]
    assert "pyproject.toml" in sources
    for source in sources:
        assert not any(fnmatch.fnmatch(source, p) for p in patterns), source


# --- kustomize base ------------------------------------------------------------------------


def test_kustomize_base_renders_objects_valid_for_recent_kubernetes(
    rendered: list[dict[str, Any]],
) -> None:
    kinds = sorted(o["kind"] for o in rendered)
    assert kinds == sorted(
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "ConfigMap",
            "Deployment",
            "Namespace",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ]
    )
    for obj in rendered:
        validate(obj)


def test_namespaced_objects_live_in_the_costbot_namespace(rendered: list[dict[str, Any]]) -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in rendered:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"].get("namespace") == "costbot", obj["metadata"]["name"]


def test_real_secrets_are_never_rendered_by_the_base(rendered: list[dict[str, Any]]) -> None:
    assert not [o for o in rendered if o["kind"] == "Secret"]
    for overlay in OVERLAYS:
        kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
        assert not any("secret" in r for r in kustomization.get("resources", [])), overlay
        assert "secretGenerator" not in kustomization


def test_example_secret_is_valid_and_holds_only_placeholders() -> None:
    secret = yaml.safe_load((DEPLOY / "secret.example.yaml").read_text())
    validate(secret)
    assert secret["metadata"]["name"] == "costbot-slack"
    values = secret["stringData"]
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"} <= set(values)
    assert all("REPLACE-ME" in value for value in values.values())


def test_deployment_runs_two_replicas_of_the_released_image(rendered: list[dict[str, Any]]) -> None:
    deployment = find(rendered, "Deployment", "costbot")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "costbot"
    assert pod["containers"][0]["image"] == "ghcr.io/example/costbot:0.1.0"


def test_pod_security_context_is_restrictive(
    rendered: list[dict[str, Any]], container: dict[str, Any]
) -> None:
    pod = find(rendered, "Deployment", "costbot")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == 10001
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert not ctx["capabilities"].get("add")
    assert ctx["seccompProfile"]["type"] == "RuntimeDefault"


def test_container_uid_matches_the_image_user(container: dict[str, Any]) -> None:
    users = [rest for word, rest in final_stage() if word == "USER"]
    assert str(container["securityContext"]["runAsUser"]) == users[-1].split(":")[0]


def test_probes_hit_healthz_and_readyz_on_the_named_http_port(container: dict[str, Any]) -> None:
    assert {"name": "http", "containerPort": 3000, "protocol": "TCP"} in container["ports"]
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]
    assert (liveness["path"], liveness["port"]) == ("/healthz", "http")
    assert (readiness["path"], readiness["port"]) == ("/readyz", "http")


def test_writable_paths_are_empty_dirs_and_identity_map_is_mounted(
    rendered: list[dict[str, Any]], container: dict[str, Any]
) -> None:
    pod = find(rendered, "Deployment", "costbot")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert "emptyDir" in volumes[mounts["/data"]]
    assert volumes[mounts["/etc/costbot"]]["configMap"]["name"] == "costbot-identity"
    config = find(rendered, "ConfigMap", "costbot-config")["data"]
    identity = find(rendered, "ConfigMap", "costbot-identity")["data"]
    mount_dir, _, key = config["IDENTITY_MAP_FILE"].rpartition("/")
    assert mount_dir == "/etc/costbot"
    assert set(yaml.safe_load(identity[key])) >= {"users", "usergroups", "email"}


def test_env_comes_from_config_then_slack_secret(
    rendered: list[dict[str, Any]], container: dict[str, Any]
) -> None:
    sources = container["envFrom"]
    assert sources[0] == {"configMapRef": {"name": "costbot-config"}}
    assert sources[-1] == {"secretRef": {"name": "costbot-slack"}}
    config = find(rendered, "ConfigMap", "costbot-config")["data"]
    assert config["OPENCOST_URL"] == "http://opencost.opencost:9003"
    assert config["REDIS_URL"] == "redis://costbot-redis:6379/0"
    assert config["LOG_FORMAT"] == "json"
    assert not any("TOKEN" in key or "SECRET" in key for key in config)


def test_shutdown_is_graceful_and_resources_are_bounded(
    rendered: list[dict[str, Any]], container: dict[str, Any]
) -> None:
    pod = find(rendered, "Deployment", "costbot")["spec"]["template"]["spec"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert int(pre_stop[1]) < pod["terminationGracePeriodSeconds"] == 30
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])


def test_service_and_disruption_budget_select_the_bot_pods(rendered: list[dict[str, Any]]) -> None:
    deployment = find(rendered, "Deployment", "costbot")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = find(rendered, "Service", "costbot")["spec"]
    assert service["ports"][0]["port"] == 80
    assert service["ports"][0]["targetPort"] == "http"
    assert service["selector"].items() <= pod_labels.items()
    budget = find(rendered, "PodDisruptionBudget", "costbot")["spec"]
    assert budget["minAvailable"] == 1 < deployment["spec"]["replicas"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert any(c["topologyKey"] == "kubernetes.io/hostname" for c in spread)


# --- every overlay, the Redis component, settings coverage ----------------------------------

OVERLAYS = sorted(path.parent for path in DEPLOY.rglob("kustomization.yaml"))
SETTINGS_MODULE = ROOT / "bot" / "settings.py"
SECRET_SETTINGS = {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"}


def setting_names() -> list[str]:
    from bot.settings import Settings

    return sorted(name.upper() for name in Settings.model_fields)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_kustomization_renders_valid_objects(overlay: Path) -> None:
    kind = yaml.safe_load((overlay / "kustomization.yaml").read_text())["kind"]
    if kind == "Component":  # rendered through the overlays that use it
        assert any(
            "components" in yaml.safe_load((o / "kustomization.yaml").read_text()) for o in OVERLAYS
        )
        return
    objects = render(overlay)
    assert objects
    for obj in objects:
        validate(obj)


def test_with_redis_is_a_complete_install_with_persistent_redis() -> None:
    objects = render(DEPLOY / "with-redis")
    config = find(objects, "ConfigMap", "costbot-config")["data"]
    url = urlsplit(config["REDIS_URL"])
    service = find(objects, "Service", url.hostname or "")
    assert service["metadata"]["namespace"] == "costbot"
    assert [p["port"] for p in service["spec"]["ports"]] == [url.port]
    redis_set = find(objects, "StatefulSet", "costbot-redis")
    pod_labels = redis_set["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (claim,) = redis_set["spec"]["volumeClaimTemplates"]
    (container,) = redis_set["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/data"
    conf = find(objects, "ConfigMap", "costbot-redis")["data"]["redis.conf"].splitlines()
    assert {"appendonly yes", "maxmemory-policy noeviction", "dir /data"} <= set(conf)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    policy = find(objects, "NetworkPolicy", "costbot-redis")["spec"]
    bot_labels = find(objects, "Deployment", "costbot")["spec"]["template"]["metadata"]["labels"]
    allowed = policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert allowed.items() <= bot_labels.items()
    # the base's objects are all there too
    assert {o["kind"] for o in render(DEPLOY)} <= {o["kind"] for o in objects}


def test_the_bot_image_is_named_once_in_a_kustomize_images_entry() -> None:
    mentions = [
        path for path in DEPLOY.rglob("*.yaml") if "ghcr.io/example/costbot" in path.read_text()
    ]
    assert mentions == [DEPLOY / "base" / "kustomization.yaml"]
    images = yaml.safe_load(mentions[0].read_text())["images"]
    assert [image["name"] for image in images] == ["costbot"]
    for overlay in (DEPLOY, DEPLOY / "with-redis"):
        bot = find(render(overlay), "Deployment", "costbot")
        assert bot["spec"]["template"]["spec"]["containers"][0]["image"] == (
            f"{images[0]['newName']}:{images[0]['newTag']}"
        )


def test_the_sample_identity_map_is_a_valid_map() -> None:
    from services.access.identity import IdentityMap

    identity = find(render(DEPLOY), "ConfigMap", "costbot-identity")["data"]["identity.yaml"]
    loaded = IdentityMap.from_yaml(identity, "deploy identity map")
    assert loaded.users
    assert loaded.usergroups


def test_every_setting_is_in_the_configmap_or_the_example_secret() -> None:
    configmap = (DEPLOY / "base" / "configmap.yaml").read_text()
    secret = yaml.safe_load((DEPLOY / "secret.example.yaml").read_text())["stringData"]
    for name in setting_names():
        if name in SECRET_SETTINGS:
            assert name in secret, name
            continue
        # a key, or a commented-out key with the default left alone
        assert re.search(rf"^\s*(# )?{name}: ", configmap, re.MULTILINE), name


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = set(re.findall(r"^\| `([A-Z_]+)`", readme, re.MULTILINE))
    missing = [name for name in setting_names() if name not in rows]
    assert not missing, f"README configuration table lacks {missing}"


def test_yaml_passes_yamllint() -> None:
    yamllint = Path(sys.executable).parent / "yamllint"
    result = subprocess.run(
        [str(yamllint), "-c", str(ROOT / ".yamllint.yaml"), "-f", "parsable", "deploy",
         "manifest.yml"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# --- RBAC ----------------------------------------------------------------------------------


def test_cluster_role_grants_reviews_and_hpa_reads(rendered: list[dict[str, Any]]) -> None:
    rules = find(rendered, "ClusterRole", "costbot")["rules"]
    granted = {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert ("authorization.k8s.io", "subjectaccessreviews", "create") in granted
    assert ("authentication.k8s.io", "tokenreviews", "create") in granted  # the HTTP API
    for verb in READ_VERBS:
        assert ("autoscaling", "horizontalpodautoscalers", verb) in granted
    for kind in ("deployments", "statefulsets", "daemonsets", "replicasets"):
        assert {("apps", kind, "get"), ("apps", kind, "list")} <= granted
    assert ("", "namespaces", "list") in granted


def test_cluster_role_grants_nothing_broad_or_secret(rendered: list[dict[str, Any]]) -> None:
    for rule in find(rendered, "ClusterRole", "costbot")["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert not any("*" in value for value in rule[field]), rule
        assert "secrets" not in rule["resources"]
        assert "nonResourceURLs" not in rule
        assert "resourceNames" not in rule
        reviews = (["subjectaccessreviews"], ["tokenreviews"])
        allowed = {"create"} if rule["resources"] in reviews else READ_VERBS
        assert set(rule["verbs"]) <= allowed, rule


def test_cluster_role_is_bound_to_the_bot_service_account(rendered: list[dict[str, Any]]) -> None:
    binding = find(rendered, "ClusterRoleBinding", "costbot")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "costbot",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "costbot", "namespace": "costbot"}
    ]


def test_optional_costs_role_grants_get_on_the_virtual_resource() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "optional/costs-clusterrole.yaml").read_text()))
    for doc in docs:
        validate(doc)
    viewer = docs[0]
    assert viewer["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert viewer["rules"] == [
        {"apiGroups": ["opencost.io"], "resources": ["costs"], "verbs": ["get"]}
    ]
    aggregated = [d for d in docs if "aggregationRule" in d]
    assert aggregated
    selector = aggregated[0]["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]
    assert selector.items() <= viewer["metadata"]["labels"].items()


# --- Slack app manifest --------------------------------------------------------------------


def test_manifest_declares_the_cost_slash_command(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/cost"
    assert command["should_escape"] is False
    assert command["url"] == "https://costbot.example.com/slack/events"
    assert command["description"]
    assert command["usage_hint"]
    assert len(command["description"]) <= 2000
    assert len(command["usage_hint"]) <= 1000


def test_manifest_requests_exactly_the_bot_scopes(manifest: dict[str, Any]) -> None:
    """The manifest asks for exactly the scopes `costbot check` expects a token to carry (the
    image ships no manifest, so the doctor keeps its own list)."""
    scopes = manifest["oauth_config"]["scopes"]
    assert sorted(scopes["bot"]) == sorted(BOT_SCOPES)
    assert len(scopes["bot"]) == len(set(scopes["bot"]))
    assert not scopes.get("user")


def test_manifest_enables_socket_mode_interactivity_and_home_tab(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["token_rotation_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"] == "https://costbot.example.com/slack/events"
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]


def test_manifest_fits_slack_field_limits(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert info["name"] == "costbot"
    assert len(info["description"]) <= 140
    assert len(info.get("long_description", "")) <= 4000
    bot_name = manifest["features"]["bot_user"]["display_name"]
    assert len(bot_name) <= 80
    assert set(bot_name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert manifest["_metadata"]["major_version"] in (1, 2)
