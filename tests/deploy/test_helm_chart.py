"""Checks of the Helm chart in deploy/helm/complaintdesk (and the Dockerfile).

The chart is rendered with the Helm Go SDK (``helm-python-sdk``, no helm binary), linted strictly for
Kubernetes 1.30, every object validated strictly against 1.30 (``kubernetes-validate``) and scanned with
checkov (offline, from the ``.venv-tools`` virtualenv ``scripts/bootstrap dev`` makes). Nothing skips.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
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
    "configmap.yaml",
    "ingress.yaml",
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
    assert values["secrets"]["mode"] == "file"
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
    line = next(x for x in helpers.splitlines() if x.startswith("COMPLAINTDESK_TRUSTED_PROXIES:"))
    assert '.Values.config.trustedProxies | default (list) | join "," | quote' in line


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


# ---- rendering with the Helm Go SDK (helm-python-sdk: no helm binary) ---------------------------

KUBE_VERSION = "1.30.0"
PRODUCTION_VALUES = CHART_DIR / "values-production.example.yaml"
CHART_README = CHART_DIR / "README.md"


def _minimal_values() -> dict[str, Any]:
    """The README's minimal values: the first ```yaml block under its "Minimal values" heading."""
    text = CHART_README.read_text(encoding="utf-8")
    section = text.split("### Minimal values", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    values = yaml.safe_load(block)
    assert isinstance(values, dict)
    return values


def _production_values() -> dict[str, Any]:
    values = _load_yaml(PRODUCTION_VALUES)
    assert isinstance(values, dict)
    return values


def _render_sdk(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Render the chart as `helm install` would (offline), every manifest parsed; NOTES.txt left out."""
    chart = helm.Chart.load(CHART_DIR)
    out = chart.render(values, name="demo", namespace="complaintdesk", is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def _with_secret(**extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"secrets": {"existingSecret": "complaintdesk-connections"}}
    values.update(extra)
    return values


VALUE_SETS = {
    "readme-minimal": _minimal_values,
    "production-example": _production_values,
}


def test_default_values_fail_with_the_clear_message() -> None:
    chart = helm.Chart.load(CHART_DIR)
    with pytest.raises(helm.HelmRenderError) as failure:
        chart.render({}, name="demo", namespace="complaintdesk", is_install=True)
    assert ("secrets.existingSecret is required: the name of an existing Secret with the keys given in "
            "secrets.keys (databaseUrl, redisUrl)") in str(failure.value)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_values_sets_validate_against_the_schema(name: str) -> None:
    values = VALUE_SETS[name]()
    assert _errors(_deep_merge(_values(), values)) == []
    helm.Chart.load(CHART_DIR).validate_schema(values)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_strict_for_kubernetes_1_30(name: str) -> None:
    report = helm.lint(CHART_DIR, VALUE_SETS[name](), strict=True, kube_version=f"v{KUBE_VERSION}",
                       namespace="complaintdesk")
    assert report["errors"] == []
    # severity 2 = warning, 3 = error; strict lint fails on either (1 = info, e.g. "icon is recommended")
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_lint_reports_a_broken_template(tmp_path: Path) -> None:
    """The lint above can fail: a copy of the chart with a template that does not parse is reported."""
    broken = tmp_path / "complaintdesk"
    shutil.copytree(CHART_DIR, broken)
    (broken / "templates" / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n{{ .Values.nope.nope }\n")
    report = helm.lint(broken, _minimal_values(), strict=True, kube_version=f"v{KUBE_VERSION}")
    assert [m for m in report["messages"] if m["severity"] >= 2] or report["errors"]


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_object_validates_strictly_against_kubernetes_1_30(name: str) -> None:
    docs = _render_sdk(VALUE_SETS[name]())
    assert len(docs) >= 10
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_strict_validation_catches_an_unknown_field() -> None:
    docs = _render_sdk(_minimal_values())
    deployment = copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


def _checkov() -> str:
    """checkov lives in its own virtualenv (scripts/bootstrap dev makes .venv-tools), or on PATH."""
    local = REPO_ROOT / ".venv-tools" / "bin" / "checkov"
    found = str(local) if local.is_file() else shutil.which("checkov")
    assert found, "checkov is not installed: run scripts/bootstrap dev (it installs .venv-tools)"
    return found


def _checkov_failures(docs: list[dict[str, Any]], tmp_path: Path) -> set[tuple[str, str]]:
    out = tmp_path / "rendered"
    out.mkdir()
    for index, doc in enumerate(docs):
        (out / f"{index:02d}-{doc['kind']}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = subprocess.run(
        [_checkov(), "-d", str(out), "--framework", "kubernetes", "--skip-download", "--output", "json",
         "--quiet"],
        capture_output=True, text=True, timeout=240, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BC_SKIP_MAPPING": "TRUE",
             "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failures: set[tuple[str, str]] = set()
    passed = 0
    for one in reports:
        if not isinstance(one, dict) or "results" not in one:  # an empty run answers a summary only
            continue
        passed += one["summary"]["passed"]
        for check in one["results"]["failed_checks"]:
            failures.add((check["check_id"], check["resource"]))
    assert passed > 100, "checkov ran no checks"
    return failures


def _justified_checks() -> set[str]:
    """The checkov checks the chart's README justifies, one table row each (| `CKV_K8S_N` | why |)."""
    text = CHART_README.read_text(encoding="utf-8").split("## checkov", 1)[1]
    return set(re.findall(r"^\|\s*`(CKV2?_K8S_\d+)`\s*\|\s*\S", text, re.MULTILINE))


def test_checkov_production_example_has_no_failure(tmp_path: Path) -> None:
    assert _checkov_failures(_render_sdk(_production_values()), tmp_path) == set()


def test_checkov_minimal_values_fail_only_justified_checks(tmp_path: Path) -> None:
    failures = _checkov_failures(_render_sdk(_minimal_values()), tmp_path)
    justified = _justified_checks()
    assert justified, "the README's checkov table is empty"
    # exactly: a justification of a check that no longer fails is stale
    assert {check for check, _ in failures} == justified, sorted(failures)


def test_checkov_sees_a_real_failure(tmp_path: Path) -> None:
    """The scan can fail: a privileged container in the production example is reported."""
    docs = _render_sdk(_production_values())
    api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-api"))
    api["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    failures = _checkov_failures(docs, tmp_path)
    assert "CKV_K8S_16" in {check for check, _ in failures}


def test_render_has_every_document() -> None:
    docs = _render_sdk(_with_secret())
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "ConfigMap",
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
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    for workload in (d for d in docs if d["kind"] in {"Deployment", "Job"}):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["connections"]["secret"]["secretName"] == "complaintdesk-connections"
        for container in pod["containers"]:
            env = {e["name"]: e for e in container["env"]}
            # the URLs are files of the mounted Secret, nothing secret in the environment
            assert "DATABASE_URL" not in env and "REDIS_URL" not in env
            assert env["DATABASE_URL_FILE"]["value"] == "/var/run/secrets/complaintdesk/connections/databaseUrl"
            assert env["REDIS_URL_FILE"]["value"] == "/var/run/secrets/complaintdesk/connections/redisUrl"
            mounts = {m["name"]: m for m in container["volumeMounts"]}
            assert mounts["connections"]["readOnly"] is True
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_connection_urls_as_env_when_asked() -> None:
    docs = _render_sdk(_with_secret(secrets={"existingSecret": "conn", "mode": "env"}))
    for workload in (d for d in docs if d["kind"] in {"Deployment", "Job"}):
        pod = workload["spec"]["template"]["spec"]
        assert "connections" not in {v["name"] for v in pod["volumes"]}
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "conn", "key": "databaseUrl"}
        assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "conn", "key": "redisUrl"}


def test_configmap_holds_the_settings_and_rolls_the_pods() -> None:
    values = _with_secret(config={"environment": "production", "logLevel": "WARNING", "logFormat": "json",
                                  "queueNamespace": "cdq", "trustedProxies": ["10.0.0.0/8"],
                                  "otlpEndpoint": "http://collector:4318", "traceSampleRatio": 0.25,
                                  "publicUrl": "https://c.example",
                                  "extra": {"COMPLAINTDESK_EXTRA_SETTING": "x"}})
    docs = _render_sdk(values)
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert config["data"]["COMPLAINTDESK_LOG_LEVEL"] == "WARNING"
    assert config["data"]["COMPLAINTDESK_QUEUE_NAMESPACE"] == "cdq"
    assert config["data"]["COMPLAINTDESK_TRUSTED_PROXIES"] == "10.0.0.0/8"
    assert config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    assert config["data"]["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    assert config["data"]["COMPLAINTDESK_PUBLIC_URL"] == "https://c.example"
    assert config["data"]["COMPLAINTDESK_EXTRA_SETTING"] == "x"
    assert config["data"]["COMPLAINTDESK_WORKER_HTTP_HOST"] == "0.0.0.0"  # noqa: S104
    checksums = set()
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
        checksums.add(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])
    job = next(d for d in docs if d["kind"] == "Job")  # a pre-install hook: before the ConfigMap exists
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {k: env[k] for k in config["data"]} == config["data"]
    other = _render_sdk(_with_secret(config={**values["config"], "logLevel": "INFO"}))
    other_sums = {d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
                  for d in other if d["kind"] == "Deployment"}
    assert len(checksums) == 1 and checksums.isdisjoint(other_sums)


MAIL_AND_SMS = {"publicUrl": "https://complaints.example.com", "smtp": {"from": "complaints@example.com"},
                "sms": {"sender": "webhook", "url": "https://sms.example.com/v1/messages"}}


def _workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in {"Deployment", "Job"}]


def test_mail_sms_and_public_url_settings_reach_every_container() -> None:
    """The public URL, the sender address and the SMS webhook in the ConfigMap (and the migrate Job's env); the SMTP
    URL (it may hold a password) and the SMS signing secret only from Secrets: mounted files (``*_FILE``) or
    secretKeyRef, never a value."""
    docs = _render_sdk(_with_secret(
        config=MAIL_AND_SMS,
        secrets={"existingSecret": "complaintdesk-connections",
                 "smtp": {"existingSecret": "cd-smtp", "key": "smtpUrl", "mode": "file"},
                 "sms": {"existingSecret": "cd-sms", "key": "smsSecret", "mode": "env"}}))
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert {k: config[k] for k in ("COMPLAINTDESK_PUBLIC_URL", "COMPLAINTDESK_SMTP_FROM", "COMPLAINTDESK_SMS_SENDER",
                                   "COMPLAINTDESK_SMS_URL")} == {
        "COMPLAINTDESK_PUBLIC_URL": "https://complaints.example.com",
        "COMPLAINTDESK_SMTP_FROM": "complaints@example.com", "COMPLAINTDESK_SMS_SENDER": "webhook",
        "COMPLAINTDESK_SMS_URL": "https://sms.example.com/v1/messages"}
    assert not {"COMPLAINTDESK_SMTP_URL", "COMPLAINTDESK_SMS_SECRET"} & set(config)
    workloads = _workloads(docs)
    assert len(workloads) == 3  # api, worker, migrate
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["COMPLAINTDESK_SMTP_URL_FILE"] == {
            "name": "COMPLAINTDESK_SMTP_URL_FILE", "value": "/var/run/secrets/complaintdesk/smtp/smtpUrl"}
        assert "COMPLAINTDESK_SMTP_URL" not in env and "COMPLAINTDESK_SMS_SECRET_FILE" not in env
        assert env["COMPLAINTDESK_SMS_SECRET"] == {"name": "COMPLAINTDESK_SMS_SECRET", "valueFrom": {
            "secretKeyRef": {"name": "cd-sms", "key": "smsSecret"}}}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["smtp-secret"]["secret"] == {"secretName": "cd-smtp", "defaultMode": 0o440,
                                                    "items": [{"key": "smtpUrl", "path": "smtpUrl"}]}
        assert "sms-secret" not in volumes  # env mode: nothing mounted
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["smtp-secret"] == {"name": "smtp-secret", "mountPath": "/var/run/secrets/complaintdesk/smtp",
                                         "readOnly": True}
    # the other way round: the SMS secret mounted, the SMTP URL from secretKeyRef
    swapped = _render_sdk(_with_secret(secrets={
        "existingSecret": "complaintdesk-connections",
        "smtp": {"existingSecret": "cd-smtp", "key": "smtpUrl", "mode": "env"},
        "sms": {"existingSecret": "cd-sms", "key": "smsSecret", "mode": "file"}}))
    for workload in _workloads(swapped):
        container = workload["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["COMPLAINTDESK_SMTP_URL"]["valueFrom"]["secretKeyRef"] == {"name": "cd-smtp", "key": "smtpUrl"}
        assert env["COMPLAINTDESK_SMS_SECRET_FILE"]["value"] == "/var/run/secrets/complaintdesk/sms/smsSecret"
        assert {m["name"] for m in container["volumeMounts"]} >= {"sms-secret"}
    for doc in docs + swapped:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_mail_and_sms_are_off_by_default() -> None:
    """Nothing configured: no SMTP or SMS setting but the sender kind, no extra volume."""
    docs = _render_sdk(_with_secret())
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert not {"COMPLAINTDESK_PUBLIC_URL", "COMPLAINTDESK_SMTP_FROM", "COMPLAINTDESK_SMS_URL"} & set(config)
    assert config["COMPLAINTDESK_SMS_SENDER"] == "webhook"
    for workload in _workloads(docs):
        pod = workload["spec"]["template"]["spec"]
        assert not {e["name"] for e in pod["containers"][0]["env"]} & {
            "COMPLAINTDESK_SMTP_URL", "COMPLAINTDESK_SMTP_URL_FILE", "COMPLAINTDESK_SMS_SECRET",
            "COMPLAINTDESK_SMS_SECRET_FILE"}
        assert not {v["name"] for v in pod["volumes"]} & {"smtp-secret", "sms-secret"}


def test_schema_rejects_a_mail_or_sms_value_out_of_shape() -> None:
    for path, bad in ((("config", "publicUrl"), "complaints.example.com"), (("config", "sms", "url"), "ftp://x"),
                      (("config", "sms", "sender"), "carrier-pigeon"), (("config", "smtp", "from"), "no address"),
                      (("secrets", "smtp", "mode"), "inline"), (("secrets", "sms", "value"), "s3cr3t")):
        values = copy.deepcopy(_values())
        target = values
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bad
        assert _errors(values), path


def test_ingress_off_by_default_and_rendered_when_enabled() -> None:
    assert not [d for d in _render_sdk(_with_secret()) if d["kind"] == "Ingress"]
    docs = _render_sdk(_with_secret(ingress={
        "enabled": True, "className": "nginx", "annotations": {"a": "b"},
        "hosts": [{"host": "c.example.com", "paths": [{"path": "/graphql", "pathType": "Prefix"}]}],
        "tls": [{"secretName": "c-tls", "hosts": ["c.example.com"]}]}))
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    service = next(d for d in docs if d["kind"] == "Service")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "c-tls", "hosts": ["c.example.com"]}]
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "c.example.com"
    assert rule["http"]["paths"] == [{"path": "/graphql", "pathType": "Prefix", "backend": {
        "service": {"name": service["metadata"]["name"], "port": {"name": "http"}}}}]
    kubernetes_validate.validate(ingress, KUBE_VERSION, strict=True)


def test_worker_has_probes_on_its_health_port() -> None:
    docs = _render_sdk(_with_secret(worker={"healthPort": 9101}))
    worker = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-worker"))
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "health", "containerPort": 9101, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["startupProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert config["data"]["COMPLAINTDESK_WORKER_HTTP_PORT"] == "9101"
    annotations = worker["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9101"
    assert annotations["prometheus.io/path"] == "/metrics"


def test_metrics_scrapers_reach_the_health_port_only_when_named() -> None:
    policies = {d["metadata"]["name"]: d for d in _render_sdk(_with_secret()) if d["kind"] == "NetworkPolicy"}
    assert policies["demo-complaintdesk-worker"]["spec"]["ingress"] == []
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    values = _with_secret()
    values["networkPolicy"] = {"metrics": {"from": [peer]}}
    policies = {d["metadata"]["name"]: d for d in _render_sdk(values) if d["kind"] == "NetworkPolicy"}
    assert policies["demo-complaintdesk-worker"]["spec"]["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": 8001}], "from": [peer]}]
    assert {"ports": [{"protocol": "TCP", "port": 8000}], "from": [peer]} in \
        policies["demo-complaintdesk-api"]["spec"]["ingress"]


def test_image_digest_wins_over_the_tag() -> None:
    digest = "sha256:" + "ab" * 32
    docs = _render_sdk(_with_secret(image={"repository": "r.example/cd", "tag": "9.9.9", "digest": digest,
                                           "pullPolicy": "Always"}))
    for workload in (d for d in docs if d["kind"] in {"Deployment", "Job"}):
        assert workload["spec"]["template"]["spec"]["containers"][0]["image"] == f"r.example/cd@{digest}"


def test_render_optional_features() -> None:
    docs = _render_sdk(_with_secret(
        secrets={"existingSecret": "complaintdesk-connections",
                 "masterKey": {"existingSecret": "complaintdesk-master-key"},
                 "jwtSigningKey": {"existingSecret": "complaintdesk-jwt"}},
        worker={"autoscaling": {"enabled": True}},
        api={"autoscaling": {"enabled": False}},
        config={"trustedProxies": ["10.0.0.0/8", "10.1.2.3"]},
    ))
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert [h["metadata"]["name"] for h in hpas] == ["demo-complaintdesk-worker"]
    api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-api"))
    assert api["spec"]["replicas"] == 2
    env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["COMPLAINTDESK_MASTER_KEY_FILE"]["value"].startswith("/var/run/secrets/complaintdesk/")
    assert "COMPLAINTDESK_JWT_SIGNING_KEY_FILE" in env
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert config["data"]["COMPLAINTDESK_TRUSTED_PROXIES"] == "10.0.0.0/8,10.1.2.3"


def test_render_rejects_an_unknown_value() -> None:
    chart = helm.Chart.load(CHART_DIR)
    with pytest.raises(helm.HelmError) as failure:
        chart.render(_with_secret(api={"replicas": 3}), name="demo", namespace="complaintdesk", is_install=True)
    assert "replicas" in str(failure.value)
