"""Static checks of the Helm chart in deploy/helm/complaintdesk (and the Dockerfile).

Go templates cannot be parsed as YAML, so without ``helm`` the templates are checked as text;
the rendering tests run only where a ``helm`` binary is on PATH.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "complaintdesk"
TEMPLATES_DIR = CHART_DIR / "templates"
NON_MANIFEST_TEMPLATES = {"_helpers.tpl", "NOTES.txt"}

EXPECTED_TEMPLATES = {
    "_helpers.tpl",
    "NOTES.txt",
    "api-deployment.yaml",
    "api-service.yaml",
    "api-hpa.yaml",
    "worker-deployment.yaml",
    "worker-hpa.yaml",
    "migrate-job.yaml",
    "pdb.yaml",
    "networkpolicy.yaml",
    "serviceaccount.yaml",
}

# Lines that look like a secret written inline instead of referenced from a Kubernetes Secret.
INLINE_SECRET_PATTERNS = [
    re.compile(r"(?i)\bpass(word)?\s*[:=]\s*[\"']?[^\s\"'{]"),
    re.compile(r"(?i)\b(postgres(ql)?|redis|rediss)(\+\w+)?://[^\s/@:]*:[^\s/@]+@"),
    re.compile(r"(?i)\w*(secret|token|api_?key|private_?key)\w*\s*[:=]\s*[\"']?[A-Za-z0-9+/=_-]{16,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _schema() -> dict[str, Any]:
    return json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))


def _values() -> dict[str, Any]:
    return _load_yaml(CHART_DIR / "values.yaml")


def _errors(values: dict[str, Any]) -> list[str]:
    return [error.message for error in Draft7Validator(_schema()).iter_errors(values)]


def _manifest_templates() -> list[Path]:
    return sorted(p for p in TEMPLATES_DIR.iterdir() if p.is_file() and p.name not in NON_MANIFEST_TEMPLATES)


def _inline_secret_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(p.search(line) for p in INLINE_SECRET_PATTERNS)]


# ---- Chart.yaml and the file layout ------------------------------------------------------------


def test_chart_yaml_has_required_keys() -> None:
    chart = _load_yaml(CHART_DIR / "Chart.yaml")
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "complaintdesk"
    assert str(chart["version"]) == "0.1.0"
    assert str(chart["appVersion"]) == "0.1.0"
    assert chart.get("type", "application") == "application"


def test_chart_has_expected_files() -> None:
    for name in ("Chart.yaml", "values.yaml", "values.schema.json", "README.md"):
        assert (CHART_DIR / name).is_file(), name
    present = {p.name for p in TEMPLATES_DIR.iterdir() if p.is_file()}
    assert present >= EXPECTED_TEMPLATES, sorted(EXPECTED_TEMPLATES - present)


@pytest.mark.parametrize("template", _manifest_templates(), ids=lambda p: p.name)
def test_every_manifest_template_declares_api_version_and_kind(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    assert re.search(r"^apiVersion:\s*\S", text, re.MULTILINE), template.name
    assert re.search(r"^kind:\s*\S", text, re.MULTILINE), template.name


# ---- values.yaml against values.schema.json ----------------------------------------------------


def test_schema_is_valid_draft7() -> None:
    schema = _schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    Draft7Validator.check_schema(schema)


def test_values_yaml_validates_against_schema() -> None:
    assert _errors(_values()) == []


def test_schema_is_strict_on_main_objects() -> None:
    schema = _schema()
    assert schema["additionalProperties"] is False
    strict = ("image", "config", "secrets", "serviceAccount", "api", "worker", "migrations", "networkPolicy")
    for key in strict:
        assert schema["properties"][key]["additionalProperties"] is False, key


def test_schema_rejects_typo_in_top_level_key() -> None:
    values = _values()
    values["replicaCuont"] = 3
    errors = _errors(values)
    assert errors
    assert any("replicaCuont" in message for message in errors)


def test_schema_rejects_typo_in_nested_key() -> None:
    values = _values()
    values["api"]["replicas"] = 3
    assert any("replicas" in message for message in _errors(values))


@pytest.mark.parametrize("component", ["api", "worker"])
def test_schema_rejects_negative_replica_count(component: str) -> None:
    values = _values()
    values[component]["replicaCount"] = -1
    errors = _errors(values)
    assert errors
    assert any("-1" in message for message in errors)


@pytest.mark.parametrize(
    ("path", "bad_value"),
    [
        (("config", "environment"), "prod"),
        (("config", "logLevel"), "verbose"),
        (("config", "trustedProxies"), ["ingress-nginx"]),
        (("config", "trustedProxies"), "10.0.0.0/8"),
        (("secrets", "masterKey", "mode"), "inline"),
        (("worker", "threads"), 0),
        (("api", "probes", "readiness", "path"), "readyz"),
        (("api", "autoscaling", "targetCPUUtilizationPercentage"), None),
        (("migrations", "hookDeletePolicy"), "always"),
    ],
)
def test_schema_rejects_bad_values(path: tuple[str, ...], bad_value: Any) -> None:
    values = copy.deepcopy(_values())
    target = values
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad_value
    assert _errors(values), path


def test_schema_accepts_secret_references() -> None:
    values = _values()
    values["secrets"]["existingSecret"] = "complaintdesk-connections"
    values["secrets"]["masterKey"] = {
        "existingSecret": "complaintdesk-master-key",
        "key": "masterKey",
        "mode": "env",
    }
    values["secrets"]["jwtSigningKey"] = {"existingSecret": "complaintdesk-jwt", "key": "signing.pem"}
    values["extraEnv"] = [
        {"name": "SMTP_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "smtp", "key": "password"}}}
    ]
    assert _errors(values) == []


def test_schema_rejects_env_var_with_both_value_and_value_from() -> None:
    values = _values()
    values["extraEnv"] = [
        {"name": "X", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ]
    assert _errors(values)


# ---- defaults that matter for production -------------------------------------------------------


def test_default_values_are_hardened() -> None:
    values = _values()
    pod = values["podSecurityContext"]
    container = values["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["runAsNonRoot"] is True
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    assert container["seccompProfile"]["type"] == "RuntimeDefault"
    for component in ("api", "worker", "migrations"):
        resources = values[component]["resources"]
        assert resources["requests"] and resources["limits"], component


def test_default_probes_and_ports() -> None:
    api = _values()["api"]
    assert api["containerPort"] == 8000
    assert api["probes"]["liveness"]["path"] == "/healthz"
    assert api["probes"]["readiness"]["path"] == "/readyz"
    assert api["probes"]["startup"]["path"] == "/healthz"
    text = (TEMPLATES_DIR / "api-deployment.yaml").read_text(encoding="utf-8")
    for probe in ("startupProbe:", "livenessProbe:", "readinessProbe:"):
        assert probe in text


def test_worker_has_grace_period_and_no_service() -> None:
    assert _values()["worker"]["terminationGracePeriodSeconds"] >= 60
    for template in _manifest_templates():
        text = template.read_text(encoding="utf-8")
        if re.search(r"^kind:\s*Service\s*$", text, re.MULTILINE):
            assert "component: worker" not in text, template.name


def test_connection_urls_come_from_a_required_secret_reference() -> None:
    values = _values()
    assert values["secrets"]["existingSecret"] == ""
    assert values["secrets"]["keys"] == {"databaseUrl": "databaseUrl", "redisUrl": "redisUrl"}
    helpers = (TEMPLATES_DIR / "_helpers.tpl").read_text(encoding="utf-8")
    assert re.search(r"required\s+\"[^\"]*\"\s+\.Values\.secrets\.existingSecret", helpers)
    for env_name in ("DATABASE_URL", "REDIS_URL"):
        block = helpers.split(f"- name: {env_name}\n", 1)[1].split("- name:", 1)[0]
        assert "secretKeyRef:" in block, env_name
        assert "value:" not in block, env_name


def test_trusted_proxies_are_empty_by_default_and_reach_every_container() -> None:
    values = _values()
    assert values["config"]["trustedProxies"] == []
    values["config"]["trustedProxies"] = ["10.0.0.0/8", "192.168.1.7", "fd00::/8"]
    assert _errors(values) == []
    helpers = (TEMPLATES_DIR / "_helpers.tpl").read_text(encoding="utf-8")
    block = helpers.split("- name: COMPLAINTDESK_TRUSTED_PROXIES\n", 1)[1].split("- name:", 1)[0]
    assert '.Values.config.trustedProxies | default (list) | join "," | quote' in block


# ---- the migration hook ------------------------------------------------------------------------


def test_migrate_job_is_a_pre_install_pre_upgrade_hook() -> None:
    text = (TEMPLATES_DIR / "migrate-job.yaml").read_text(encoding="utf-8")
    assert re.search(r"^kind:\s*Job\s*$", text, re.MULTILINE)
    assert re.search(r"\"helm\.sh/hook\":\s*pre-install,pre-upgrade\s*$", text, re.MULTILINE)
    assert '"helm.sh/hook-delete-policy":' in text
    assert "backoffLimit:" in text
    assert "restartPolicy: Never" in text
    assert re.search(r"args:\s*\n\s*- migrate\s*$", text, re.MULTILINE)
    migrations = _values()["migrations"]
    assert migrations["enabled"] is True
    assert "before-hook-creation" in migrations["hookDeletePolicy"]


# ---- no secrets in the chart or the image ------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "  password: hunter2",
        "DATABASE_URL: postgresql://app:s3cret@db:5432/complaintdesk",
        "  value: redis://:s3cret@redis:6379/0",
        "  jwtSecret: c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4",
    ],
)
def test_inline_secret_detector_catches_examples(line: str) -> None:
    assert _inline_secret_lines(line) == [line]


def test_no_inline_secrets_in_chart_or_dockerfile() -> None:
    files = [p for p in CHART_DIR.rglob("*") if p.is_file() and p.name != "README.md"]
    files += [REPO_ROOT / "Dockerfile"]
    offenders = {
        str(path.relative_to(REPO_ROOT)): lines
        for path in files
        if (lines := _inline_secret_lines(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


# ---- Dockerfile --------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_with_entrypoint() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "python:3.11-slim" in text
    assert len(re.findall(r"^FROM\s", text, re.MULTILINE)) >= 2
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0")), users
    assert 'ENTRYPOINT ["complaintdesk"]' in text
    assert 'CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]' in text
    ignored = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", ".venv", "tests", ".env"):
        assert entry in ignored, entry


# ---- rendering with helm (only where helm is installed) ----------------------------------------


def _helm() -> str:
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("helm is not on PATH; the chart is checked statically only")
    return helm


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_helm(), "template", "demo", str(CHART_DIR), "--namespace", "complaintdesk", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_helm_template_renders_all_documents() -> None:
    result = _render("--set", "secrets.existingSecret=complaintdesk-connections")
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "Deployment",
            "Deployment",
            "Service",
            "Job",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "NetworkPolicy",
            "NetworkPolicy",
            "ServiceAccount",
        ]
    )
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    for workload in (d for d in docs if d["kind"] in {"Deployment", "Job"}):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            env = {e["name"]: e for e in container["env"]}
            assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "complaintdesk-connections"
            assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "complaintdesk-connections"
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_helm_template_renders_optional_features() -> None:
    result = _render(
        "--set",
        "secrets.existingSecret=complaintdesk-connections",
        "--set",
        "secrets.masterKey.existingSecret=complaintdesk-master-key",
        "--set",
        "secrets.jwtSigningKey.existingSecret=complaintdesk-jwt",
        "--set",
        "worker.autoscaling.enabled=true",
        "--set",
        "api.autoscaling.enabled=false",
        "--set",
        "config.trustedProxies={10.0.0.0/8,10.1.2.3}",
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert [h["metadata"]["name"] for h in hpas] == ["demo-complaintdesk-worker"]
    api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-api"))
    assert api["spec"]["replicas"] == 2
    env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["COMPLAINTDESK_MASTER_KEY_FILE"]["value"].startswith("/var/run/secrets/complaintdesk/")
    assert "COMPLAINTDESK_JWT_SIGNING_KEY_FILE" in env
    assert env["COMPLAINTDESK_TRUSTED_PROXIES"]["value"] == "10.0.0.0/8,10.1.2.3"


def test_helm_template_fails_without_existing_secret() -> None:
    result = _render()
    assert result.returncode != 0
    assert "secrets.existingSecret" in result.stderr


def test_helm_template_rejects_unknown_value() -> None:
    result = _render("--set", "secrets.existingSecret=s", "--set", "api.replicas=3")
    assert result.returncode != 0
