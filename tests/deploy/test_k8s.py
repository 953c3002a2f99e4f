"""deploy/k8s: validated offline, and wired to the images and settings that exist.

The Kubernetes kinds go through kubernetes-validate's bundled schemas (strict: an unknown or
misspelt field fails); KEDA's through keda_v1alpha1.schema.json (its source is in the file).
Then what no schema sees: names that refer to each other, the drain against the grace
period, the settings against the real Settings model, the pods against the Dockerfile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, get_args

import jsonschema
import kubernetes_validate
import pytest
import typer
import yaml

from core.media.accel import AccelMode
from handlers import cli
from infra.settings import Settings
from tests.deploy.test_dockerfile import Dockerfile, exec_form, parse

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "k8s"
KEDA_SCHEMA = json.loads((Path(__file__).parent / "keda_v1alpha1.schema.json").read_text())
# The oldest Kubernetes still supported upstream when this was written, and the newest the
# package knows: the manifests must hold on both.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
Resource = dict[str, Any]


def load(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@pytest.fixture(scope="module")
def kustomization() -> Resource:
    [doc] = load(K8S / "kustomization.yaml")
    return doc


@pytest.fixture(scope="module")
def resources(kustomization: Resource) -> list[Resource]:
    return [doc for name in kustomization["resources"] for doc in load(K8S / name)]


def one(resources: list[Resource], kind: str, name: str) -> Resource:
    [found] = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    found = [r for r in resources if r["kind"] == kind]
    assert found, f"no {kind}"
    return found


def container_env(deployment: Resource, config: Resource) -> dict[str, str]:
    """What the worker container's environment holds: the ConfigMap, then its own env."""
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = dict(config["data"])
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    return env


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse((ROOT / "Dockerfile").read_text())


def test_the_kustomization_lists_every_manifest_in_one_namespace(
    kustomization: Resource, resources: list[Resource]
) -> None:
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    namespace = kustomization["namespace"]
    assert one(resources, "Namespace", namespace)
    for resource in resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace, resource["metadata"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_kubernetes_kinds_match_their_schemas(resources: list[Resource], version: str) -> None:
    checked = 0
    for resource in resources:
        if resource["apiVersion"].startswith("keda.sh/"):
            continue
        kubernetes_validate.validate(resource, version, strict=True)
        checked += 1
    assert checked >= 5


def test_the_keda_kinds_match_keda_schema(resources: list[Resource]) -> None:
    keda = [r for r in resources if r["apiVersion"].startswith("keda.sh/")]
    assert {r["kind"] for r in keda} == {"ScaledObject", "TriggerAuthentication"}
    for resource in keda:
        jsonschema.validate(resource, KEDA_SCHEMA)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "triggers", 0, "metadata", "awsRegion"), None),  # required
        (("spec", "triggers", 0, "metadata", "queueLength"), "two"),
        (("spec", "triggers", 0, "metadta"), {}),  # misspelt
        (("spec", "scaleTargetRef"), None),
    ],
)
def test_the_keda_schema_refuses_a_broken_scaled_object(
    resources: list[Resource], path: tuple[str | int, ...], value: object
) -> None:
    broken = json.loads(json.dumps(of_kind(resources, "ScaledObject")[0]))
    *parents, last = path
    node = broken
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, KEDA_SCHEMA)


def test_each_scaled_object_scales_a_worker_on_the_jobs_queue(resources: list[Resource]) -> None:
    [config] = of_kind(resources, "ConfigMap")
    for scaled in of_kind(resources, "ScaledObject"):
        deployment = one(resources, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
        env = container_env(deployment, config)
        triggers = scaled["spec"]["triggers"]
        # The jobs queue and the priority queues every pod polls (core/jobs/priority.py); the
        # worker's defaults name them after the jobs queue.
        jobs = env["FFAPI_JOBS_QUEUE"]
        queues = [t["metadata"]["queueURL"].rsplit("/", 1)[1] for t in triggers]
        assert queues == [jobs, f"{jobs}-high", f"{jobs}-low"]
        assert "FFAPI_HIGH_QUEUE" not in env
        assert "FFAPI_LOW_QUEUE" not in env
        for trigger in triggers:
            assert trigger["type"] == "aws-sqs-queue"
            one(resources, "TriggerAuthentication", trigger["authenticationRef"]["name"])
            meta = trigger["metadata"]
            assert f"sqs.{env['FFAPI_REGION']}." in meta["queueURL"]
            assert meta["awsRegion"] == env["FFAPI_REGION"]
            # One pod per FFAPI_WORKER_CONCURRENCY messages (visible plus in flight).
            assert meta["queueLength"] == env["FFAPI_WORKER_CONCURRENCY"]
        assert scaled["spec"]["minReplicaCount"] == 0
    scaled_names = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(resources, "ScaledObject")}
    assert scaled_names == {d["metadata"]["name"] for d in of_kind(resources, "Deployment")}


def test_a_scale_down_lets_the_worker_drain_first(resources: list[Resource]) -> None:
    """No one-message mode exists for a ScaledJob: SIGTERM drains, within the grace period."""
    worker = typer.main.get_command(cli.app).commands["worker"]  # type: ignore[attr-defined]
    options = {o for p in worker.params for o in p.opts}
    assert not options & {"--once", "--max-jobs", "--exit-when-empty"}, "a ScaledJob fits now"
    [config] = of_kind(resources, "ConfigMap")
    drain = float(config["data"]["FFAPI_DRAIN_SECONDS"])
    assert drain >= 300  # an encode of minutes, not ECS's 25 s default
    for deployment in of_kind(resources, "Deployment"):
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > drain + 30, deployment["metadata"]["name"]


def test_the_settings_given_exist_and_validate(
    resources: list[Resource], monkeypatch: pytest.MonkeyPatch
) -> None:
    [config] = of_kind(resources, "ConfigMap")
    fields = {f"FFAPI_{f.upper()}" for f in Settings.model_fields}
    for deployment in of_kind(resources, "Deployment"):
        env = container_env(deployment, config)
        given = {k: v for k, v in env.items() if k.startswith("FFAPI_")}
        assert set(given) <= fields, set(given) - fields
        for key in [k for k in os.environ if k.startswith("FFAPI_")]:
            monkeypatch.delenv(key)
        for key, value in given.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.accel in get_args(AccelMode)


@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_the_pod_runs_the_image_as_built(
    resources: list[Resource], dockerfile: Dockerfile, target: str
) -> None:
    stage = dockerfile.stage(target)
    spec = one(resources, "Deployment", f"ffapi-worker-{target}")["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["image"].endswith(f":{target}")
    assert container["args"] == exec_form(stage.last("CMD"))
    assert cli.main([*container["args"], "--help"]) == 0
    uid = int(stage.last("USER").partition(":")[0])
    assert spec["securityContext"]["runAsUser"] == uid
    assert spec["securityContext"]["runAsNonRoot"] is True
    one(resources, "ServiceAccount", spec["serviceAccountName"])
    # The read-only root leaves the image's work dir writable through a volume.
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert stage.env["FFAPI_TEMP_DIR"] in mounts
    port = int(stage.env["FFAPI_HTTP_PORT"])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_only_the_gpu_worker_asks_for_a_gpu(resources: list[Resource]) -> None:
    [config] = of_kind(resources, "ConfigMap")
    for target, wants_gpu in (("gpu", True), ("cpu", False)):
        deployment = one(resources, "Deployment", f"ffapi-worker-{target}")
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        limits = container["resources"]["limits"]
        assert ("nvidia.com/gpu" in limits) is wants_gpu
        env = container_env(deployment, config)
        assert env["FFAPI_ACCEL"] == ("auto" if wants_gpu else "cpu")
    gpu = one(resources, "Deployment", "ffapi-worker-gpu")
    [container] = gpu["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    tolerated = {t["key"] for t in gpu["spec"]["template"]["spec"]["tolerations"]}
    assert "nvidia.com/gpu" in tolerated


def test_kubectl_kustomize_renders_it(resources: list[Resource]) -> None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("no kubectl here (the manifests are still validated above)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    key = lambda r: (r["kind"], r["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, rendered)) == sorted(map(key, resources))
