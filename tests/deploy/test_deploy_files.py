"""The deployment files, validated offline: hadolint on the Dockerfile, shellcheck and bash on
the entrypoint, kubernetes-validate (strict) on every Kubernetes manifest, the official
Compose Specification schema on compose.yaml, and the structure each file promises.

There is no Docker daemon, Compose plugin or cluster here, so nothing is built or started:
what these tests cannot show (an image that builds, pods that schedule) deploy/README.md says.
"""

import json
import re
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy import deployfiles as df

# Kubernetes versions whose schemas kubernetes-validate ships: the oldest we support and the
# newest it knows. Strict: unknown fields (a misspelled key) are errors.
K8S_VERSIONS = ("1.31.0", "1.37.0")
# Custom resources (KEDA) have no schema in kubernetes-validate; checked structurally below.
CUSTOM_API_GROUPS = ("keda.sh/",)


# --- Dockerfile -------------------------------------------------------------------------------


def hadolint(text: str) -> list[dict]:
    result = subprocess.run(
        [df.tool("hadolint"), "--failure-threshold", "info", "--format", "json", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.strip(), f"hadolint printed nothing: {result.stderr}"
    return json.loads(result.stdout)


def test_hadolint_finds_nothing_in_the_dockerfile():
    findings = hadolint(df.DOCKERFILE.read_text())
    assert findings == [], "\n".join(
        f"line {f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings
    )


def test_hadolint_does_find_problems_in_a_bad_dockerfile():
    # Shows the linter runs and judges: an unpinned base image and apt packages, root user.
    findings = hadolint("FROM python\nRUN apt-get update && apt-get install -y curl\n")
    codes = {f["code"] for f in findings}
    assert {"DL3006", "DL3008"} <= codes, codes


def test_every_hadolint_ignore_gives_its_reason():
    lines = df.DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"#\s*hadolint ignore=(\S+)", line.strip())
        if match:
            before = " ".join(lines[max(0, number - 3) : number])
            for code in match.group(1).split(","):
                assert code in before, f"line {number + 1}: say why {code} is ignored, above it"


def test_dockerfile_stages_user_healthcheck_and_torch_variant():
    stages = df.dockerfile_stages()
    assert list(stages) == ["builder", "runtime"]
    builder, runtime = stages["builder"], stages["runtime"]
    builder_text = " ".join(args for _, args in builder)
    # The builder makes a venv and installs what pyproject.toml declares; the watermark
    # package without its dependencies, exactly as the Makefile does.
    assert "python -m venv /opt/venv" in builder_text
    assert "pyproject.toml" in builder_text and "pip install -r requirements.txt" in builder_text
    makefile = df.REPO.joinpath("Makefile").read_text()
    watermark = re.search(r"^WATERMARK := (\S+)$", makefile, re.M).group(1)
    assert f"pip install --no-deps '{watermark}'" in builder_text
    assert ("ARG", "TORCH_VARIANT=cpu") in builder
    assert "https://download.pytorch.org/whl/${TORCH_VARIANT}" in builder_text
    # The runtime copies the venv, runs as a numeric non-root user, collects static files.
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users == ["10001:10001"]
    assert any("manage.py collectstatic --no-input" in args for k, args in runtime if k == "RUN")
    healthchecks = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and 'entrypoint.sh", "healthcheck"' in healthchecks[0]
    entrypoint = [args for keyword, args in runtime if keyword == "ENTRYPOINT"]
    assert entrypoint == ['["/usr/bin/tini", "--", "/app/deploy/entrypoint.sh"]']


def test_pyproject_pins_the_torch_builds_the_dockerfile_swaps():
    # The builder installs torch and torchvision from PyTorch's index for TORCH_VARIANT at the
    # versions pyproject.toml pins (a local label such as +cpu still satisfies ==X.Y.Z).
    import tomllib

    deps = tomllib.loads(df.REPO.joinpath("pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in deps if d.startswith(("torch==", "torchvision=="))]
    assert len(pins) == 2, pins


def test_dockerfile_copies_only_what_exists_and_is_in_the_build_context():
    for keyword, arguments in df.dockerfile_stages()["runtime"]:
        if keyword != "COPY" or arguments.startswith("--from"):
            continue
        *sources, _ = arguments.split()
        for source in sources:
            assert df.REPO.joinpath(source).exists(), f"COPY {source}: no such path"
            assert not df.dockerignored(source), f"COPY {source}: .dockerignore excludes it"


def test_dockerignore_keeps_local_state_out():
    for path in (
        ".git",
        ".venv",
        "var",
        "var/media/x.png",
        ".env",
        "deploy/.env",
        "deploy/secrets/signer.key",
        "imprimatur/__pycache__/x.pyc",
        "tests",
    ):
        assert df.dockerignored(path), f"{path} would be sent to the Docker build"
    for path in (
        "pyproject.toml",
        "imprimatur/settings.py",
        "deploy/entrypoint.sh",
        "generation/demo_models/tiny-sd/model_index.json",
        "templates",
    ):
        assert not df.dockerignored(path), f"{path} is needed by the build"


# --- The entrypoint ---------------------------------------------------------------------------


def test_entrypoint_passes_bash_and_shellcheck():
    subprocess.run(["bash", "-n", str(df.ENTRYPOINT)], check=True, timeout=10)
    result = subprocess.run(
        [df.tool("shellcheck"), "--severity", "style", "--shell", "bash", str(df.ENTRYPOINT)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_does_find_problems_in_a_bad_script(tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/*\n")
    result = subprocess.run([df.tool("shellcheck"), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "SC2086" in result.stdout


# --- Kubernetes -------------------------------------------------------------------------------


def test_every_manifest_file_parses_and_names_its_namespace():
    resources = df.k8s_resources()
    assert len(resources) >= 12
    for path, resource in resources:
        assert {"apiVersion", "kind", "metadata"} <= resource.keys(), path.name
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == "imprimatur", (
                f"{path.name}: {resource['kind']} {resource['metadata']['name']}"
            )


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_validate_strict_accepts_every_manifest(version):
    checked = 0
    for path, resource in df.k8s_resources():
        if resource["apiVersion"].startswith(CUSTOM_API_GROUPS):
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            pytest.fail(f"{path.name}: {resource['kind']} at {where}: {error.message}")
        checked += 1
    assert checked >= 10


def test_kubernetes_validate_rejects_a_misspelled_field():
    deployment = json.loads(json.dumps(df.k8s_one("Deployment", "imprimatur-web")))
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_migrate_job():
    kustomization = yaml.safe_load(df.K8S.joinpath("kustomization.yaml").read_text())
    files = {p.name for p in df.K8S.glob("*.yaml")} - {"kustomization.yaml", "migrate-job.yaml"}
    assert set(kustomization["resources"]) == files


# The fields KEDA's ScaledObject spec and its redis scaler take (keda.sh/v1alpha1, KEDA 2.x):
# a misspelled one would be silently ignored by the cluster.
SCALED_OBJECT_FIELDS = {
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}
REDIS_TRIGGER_FIELDS = {
    "address",
    "addressFromEnv",
    "host",
    "hostFromEnv",
    "port",
    "portFromEnv",
    "username",
    "usernameFromEnv",
    "passwordFromEnv",
    "databaseIndex",
    "enableTLS",
    "unsafeSsl",
    "listName",
    "listLength",
    "activationListLength",
}


def test_keda_scaled_object_scales_the_gpu_workers_on_the_gpu_queue():
    from imprimatur.celery import app

    scaled = df.k8s_find("ScaledObject")
    assert len(scaled) == 1
    scaled = scaled[0]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert set(spec) <= SCALED_OBJECT_FIELDS, set(spec) - SCALED_OBJECT_FIELDS
    target = spec["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment"
    deployment = df.k8s_one("Deployment", target["name"])
    container = df.pod_spec(deployment)["containers"][0]
    assert container["args"][0] == "worker-gpu"
    assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "redis"
    metadata = trigger["metadata"]
    assert set(metadata) <= REDIS_TRIGGER_FIELDS, set(metadata) - REDIS_TRIGGER_FIELDS
    assert all(isinstance(v, str) for v in metadata.values()), "KEDA metadata values are strings"
    assert metadata["listName"] == "gpu"
    assert "gpu" in {queue.name for queue in app.conf.task_queues}
    assert int(metadata["listLength"]) >= 1
    auth = df.k8s_one("TriggerAuthentication", trigger["authenticationRef"]["name"])
    for ref in auth["spec"]["secretTargetRef"]:
        secret = df.k8s_one("Secret", ref["name"])
        assert ref["key"] in secret["stringData"]


def test_every_reference_between_manifests_resolves():
    for path, resource in df.k8s_resources():
        if resource["kind"] not in ("Deployment", "Job"):
            continue
        spec = df.pod_spec(resource)
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    df.k8s_one("ConfigMap", source["configMapRef"]["name"])
                if "secretRef" in source:
                    df.k8s_one("Secret", source["secretRef"]["name"])
            mounts = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounts <= {v["name"] for v in spec.get("volumes", [])}, path.name
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                df.k8s_one("Secret", volume["secret"]["secretName"])
            if "persistentVolumeClaim" in volume:
                df.k8s_one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])


def test_key_paths_of_the_config_map_are_files_of_the_mounted_keys_secret():
    config = df.k8s_one("ConfigMap", "imprimatur-config")["data"]
    keys = df.k8s_one("Secret", "imprimatur-keys")["stringData"]
    names = (
        "IMPRIMATUR_SIGNER_CHAIN",
        "IMPRIMATUR_SIGNER_KEY",
        "IMPRIMATUR_TRUST_ANCHORS",
        "IMPRIMATUR_AUDIT_KEY",
    )
    for name in names:
        folder, _, file = config[name].rpartition("/")
        assert file in keys, f"{name}: {file} is not in the Secret imprimatur-keys"
        for _, resource in df.k8s_resources():
            if resource["kind"] in ("Deployment", "Job"):
                mounts = df.pod_spec(resource)["containers"][0]["volumeMounts"]
                assert {"name": "keys", "mountPath": folder, "readOnly": True} in mounts


def test_pods_run_as_the_images_user_with_a_read_only_root():
    for _, resource in df.k8s_resources():
        if resource["kind"] not in ("Deployment", "Job"):
            continue
        spec = df.pod_spec(resource)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["args"][0] in df.ROLES
            assert container["resources"]["requests"]["memory"]


def test_web_probes_and_metrics():
    deployment = df.k8s_one("Deployment", "imprimatur-web")
    (container,) = df.pod_spec(deployment)["containers"]
    assert container["args"] == ["web"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == "8000"
    service = df.k8s_one("Service", "imprimatur-web")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_workers_outlive_their_longest_job_and_probe_with_worker_ready():
    config = df.k8s_one("ConfigMap", "imprimatur-config")["data"]
    hard_limit = int(config["CELERY_TASK_TIME_LIMIT"])
    from django.conf import settings

    assert hard_limit >= settings.CELERY_TASK_TIME_LIMIT  # not shorter than the default
    for name, role in (
        ("imprimatur-worker-gpu", "worker-gpu"),
        ("imprimatur-worker-default", "worker-default"),
    ):
        deployment = df.k8s_one("Deployment", name)
        spec = df.pod_spec(deployment)
        assert spec["terminationGracePeriodSeconds"] > hard_limit
        (container,) = spec["containers"]
        assert container["args"][0] == role
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            command = container[probe]["exec"]["command"]
            assert command == ["python", "manage.py", "worker_ready"], (name, probe)
        assert (
            deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
            == config["IMPRIMATUR_WORKER_METRICS_PORT"]
        )


def test_one_gpu_per_gpu_worker_and_exactly_one_beat():
    gpu = df.pod_spec(df.k8s_one("Deployment", "imprimatur-worker-gpu"))["containers"][0]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    for name in ("imprimatur-web", "imprimatur-worker-default", "imprimatur-beat"):
        container = df.pod_spec(df.k8s_one("Deployment", name))["containers"][0]
        assert "nvidia.com/gpu" not in container["resources"].get("limits", {})
    beat = df.k8s_one("Deployment", "imprimatur-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert df.pod_spec(beat)["containers"][0]["args"] == ["beat"]
    scaled_targets = {s["spec"]["scaleTargetRef"]["name"] for s in df.k8s_find("ScaledObject")}
    assert "imprimatur-beat" not in scaled_targets


def test_migrate_job_runs_the_migrate_role_once():
    job = df.k8s_one("Job", "imprimatur-migrate")
    spec = df.pod_spec(job)
    assert spec["restartPolicy"] == "Never"
    assert spec["containers"][0]["args"] == ["migrate"]


# --- Compose ----------------------------------------------------------------------------------


def compose_errors(spec: dict) -> list[str]:
    schema = json.loads(df.COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(spec)]


def test_compose_file_matches_the_compose_specification_schema():
    assert compose_errors(df.compose()) == []


def test_compose_schema_rejects_a_misspelled_key():
    spec = df.compose()
    spec["services"]["web"]["helthcheck"] = spec["services"]["web"].pop("healthcheck")
    assert any("helthcheck" in error for error in compose_errors(spec))


def test_compose_services_and_their_order():
    spec = df.compose()
    services = spec["services"]
    assert {
        "web",
        "worker-gpu",
        "worker-default",
        "beat",
        "migrate",
        "bucket",
        "postgres",
        "redis",
        "seaweedfs",
    } <= set(services)
    assert "chrislusf/seaweedfs:" in services["seaweedfs"]["image"]
    assert "-s3.port=8333" in services["seaweedfs"]["command"]
    for name, service in df.app_services(spec).items():
        role = service["command"][0]
        assert role in df.ROLES, (name, role)
        assert "healthcheck" in service or name in ("migrate", "beat"), name
        if name != "migrate":
            depends = service["depends_on"]
            assert depends["migrate"]["condition"] == "service_completed_successfully", name
            assert depends["bucket"]["condition"] == "service_completed_successfully", name
            assert set(service["secrets"]) == set(spec["secrets"]), name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_gpu_worker_reserves_one_nvidia_gpu_and_workers_drain():
    services = df.compose()["services"]
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert services["worker-gpu"]["command"] == ["worker-gpu"]
    assert services["worker-gpu"]["build"]["args"]["TORCH_VARIANT"].startswith("${")
    assert services["beat"]["deploy"]["replicas"] == 1
    for name in ("worker-gpu", "worker-default"):
        grace = services[name]["stop_grace_period"]
        amount, unit = re.fullmatch(r"(\d+)([sm])", grace).groups()
        assert int(amount) * (60 if unit == "m" else 1) > 660, name


def test_compose_interpolation_comes_from_env_example_and_uses_all_of_it():
    text = df.COMPOSE.read_text()
    example = df.env_example()
    used = set()
    for name, operator in df.compose_interpolations(text):
        used.add(name)
        assert name in example or operator in (":-", "-"), (
            f"${{{name}}} has no default and is not in deploy/.env.example"
        )
    assert set(example) - used == set(), "deploy/.env.example has values compose.yaml never uses"


def test_env_example_holds_no_real_secret():
    for name, value in df.env_example().items():
        if re.search(r"SECRET|PASSWORD|KEY|TOKEN", name) and not name.endswith("_MAX_CONNECTIONS"):
            assert value in ("change-me", ""), f"{name} must be a placeholder in .env.example"
