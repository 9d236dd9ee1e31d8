"""The import rules of the design, checked on the source (no Django, no database).

Every module of imprimatur/, governance/ and generation/ (migrations excepted) is parsed;
every import counts, also one inside a function (tools/import_rules.py). The rules:

(a) each package imports only the packages its row of ``ALLOWED`` names;
(b) the plain-Python packages import no Django, DRF or Celery and no app of the project;
(c) no import cycle among the project's modules;
(d) no module over ``MAX_LINES`` lines unless ``LONG_MODULES`` says why.

The checkers are functions of a root directory; the last tests run them on a small tree
with one broken rule of each kind, so the rules are shown to fail when broken.
"""

import ast
import sys
from pathlib import Path

import pytest

from tools.import_rules import (
    all_imports,
    forbidden_imports,
    foreign_imports,
    import_cycles,
    import_graph,
    module_lines,
    oversized_modules,
    project_modules,
)

ROOT = Path(__file__).resolve().parent.parent

ANY = None  # the row of a package that may import every other

# What each package may import besides itself. A module belongs to the longest package (or
# module) of this table that contains it; every module of the project must belong to one.
ALLOWED: dict[str, set[str] | None] = {
    # The site puts the apps together: pages, URLs, the API's shared views.
    "imprimatur.web": ANY,
    "imprimatur.urls": ANY,
    "imprimatur.api": ANY,
    # The project's wiring (settings, the Celery app, ASGI/WSGI): names apps as strings only.
    "imprimatur": {"imprimatur.storage"},
    # STORAGE_URL → a storage backend's options: plain Python, imports no app.
    "imprimatur.storage": set(),
    # The errors every interface answers the same way: any app raises them; they import none.
    "imprimatur.errors": set(),
    "imprimatur.parsers": set(),  # the API's JSON parser (DRF only)
    # File views for browsers and API clients (token or session, 401 JSON): DRF's token
    # authentication only, so any app's file views may use it.
    "imprimatur.downloads": set(),
    # Prometheus metric definitions and the functions apps call to count (generation's jobs,
    # checks, worker): it imports no app, so any app may call it.
    "imprimatur.metrics": set(),
    # Probes and /metrics: they read the database (migrations, open review tasks, model queues)
    # and the broker (through the Celery app), so they look at the apps they report on.
    "imprimatur.health": {
        "imprimatur",
        "imprimatur.metrics",
        "governance.reviews",
        "generation.jobs",
    },
    # gunicorn's configuration tidies the metrics folder when the server starts.
    "imprimatur.gunicorn": {"imprimatur.metrics"},
    # The foundation (organisations, roles, permissions): it records and registers its audit
    # events, and imports nothing else of governance or generation.
    "imprimatur.tenancy": {"imprimatur.errors", "governance.audit"},
    # Client addresses and atomic rate counters (imprimatur/ratelimit/): imports no app, so any
    # app may key a limit on the real client address.
    "imprimatur.ratelimit": set(),
    # Password logins: throttles, lockout and unlock; audited, permissions from tenancy.
    "imprimatur.accounts": {
        "imprimatur.ratelimit",
        "imprimatur.tenancy",
        "imprimatur.errors",
        "governance.audit",
    },
    # Single sign-on: providers per organisation, identity links, the password policy; it
    # sets roles through the tenancy foundation (members.py) and records its audit events.
    "imprimatur.identity": {"imprimatur.tenancy", "imprimatur.errors", "governance.audit"},
    # SCIM provisioning: changes memberships through tenancy's members module, records its
    # audit events.
    "imprimatur.scim": {"imprimatur.tenancy", "imprimatur.errors", "governance.audit"},
    # The audit log depends on no app it audits: apps register their actions and report
    # columns with it (every app may record audit events, so every app may import it).
    "governance.audit": {"imprimatur.tenancy", "imprimatur.downloads"},
    # Governance never imports generation, nor another governance app except the audit log;
    # generation hands over what governance needs (prompt and usage sources, reviewables).
    "governance.policies": {"imprimatur.tenancy", "imprimatur.errors", "governance.audit"},
    "governance.reviews": {"imprimatur.tenancy", "imprimatur.errors", "governance.audit"},
    "governance": set(),  # the package's __init__
    # Webhooks: deliveries made from audit events and two signals (review task opened,
    # checkpoint signed); it reads generation's actions as text and imports no generation.
    "imprimatur.webhooks": {
        "imprimatur.tenancy",
        "imprimatur.errors",
        "governance.audit",
        "governance.reviews",
    },
    # Generation's Django app drives the plain-Python packages and is governed.
    "generation.jobs": {
        "generation.engine",
        "generation.checks",
        "generation.provenance",
        "generation.demo",  # management commands train the demo pack, draw demo images
        "governance.audit",
        "governance.policies",
        "governance.reviews",
        "imprimatur.tenancy",
        "imprimatur.errors",
        "imprimatur.metrics",  # counts jobs, stage times, images and verdicts
        "imprimatur.ratelimit",  # the public verify rate per client address
        "imprimatur.storage",  # push destinations: an allowed bucket's storage options
        "imprimatur.downloads",  # its file views answer API tokens too
        "generation.styles",  # presets applied at submission, styles' adapters on the worker
    },
    # Brand styles: presets and LoRA style models, trained and evaluated on the workers,
    # reviewed as the kind "style". Generation's app uses them; they never import it.
    "generation.styles": {
        "generation.engine",
        "generation.checks",
        "governance.audit",
        "governance.policies",  # a template's length, as the policy counts a prompt's
        "governance.reviews",
        "imprimatur.tenancy",
        "imprimatur.errors",
        "imprimatur.downloads",  # its file views answer API tokens too
    },
    # Plain Python that the GPU workers run: no Django, no app (rule b).
    "generation.engine": set(),
    "generation.checks": set(),
    "generation.provenance": set(),
    # The demo model pack's dataset, training and evaluation: plain Python too, it trains
    # and evaluates the tiny models through the engine's own loaders and pipelines.
    "generation.demo": {"generation.engine"},
    "generation": set(),  # the package's __init__
    # The Python client and CLI (clients/python/, its own distribution): HTTP only, nothing
    # of the server, no framework (test_the_python_client_talks_http_only).
    "imprimatur_client": set(),
}

PLAIN_PACKAGES = ("generation.engine", "generation.checks", "generation.provenance",
                  "generation.demo")  # fmt: skip
FRAMEWORKS = ("django", "rest_framework", "celery")

MAX_LINES = 500
# Modules allowed over MAX_LINES, with the reason. Split one and remove its entry (the last
# test fails while an entry names a module that is no longer long).
LONG_MODULES: dict[str, str] = {
    "generation/checks/brand.py": "the brand check: palette, concepts and references scored "
    "together; one algorithm, kept in one place",
    "generation/engine/pipelines.py": "loading and running every pipeline kind (text, image, "
    "inpaint) with their shared components",
    "generation/provenance/credentials.py": "C2PA signing credentials: keys, certificates and "
    "their checks, one standard's details",
    "generation/provenance/manifests.py": "C2PA manifests: building, embedding and reading "
    "them, one standard's details",
    "generation/demo/training.py": "the demo pack's training recipe, an offline script run "
    "by train_demo_models",
}


def test_every_package_imports_only_what_the_rules_allow():
    assert forbidden_imports(import_graph(ROOT), ALLOWED) == []


CLIENT_ROOT = ROOT / "clients" / "python"
SERVER_PACKAGES = ("imprimatur", "governance", "generation", "tests", "tools")


def test_the_python_client_talks_http_only():
    """clients/python is installed apart from the server: it imports none of the server's
    packages nor a framework, only its own modules and what its pyproject.toml lists."""
    imports = all_imports(CLIENT_ROOT, ("imprimatur_client",))
    assert "imprimatur_client.cli" in imports  # it was parsed
    assert foreign_imports(imports, ["imprimatur_client"], SERVER_PACKAGES + FRAMEWORKS) == []
    graph = import_graph(CLIENT_ROOT, ("imprimatur_client",))
    assert forbidden_imports(graph, {"imprimatur_client": ALLOWED["imprimatur_client"]}) == []
    assert import_cycles(graph) == []
    assert oversized_modules(CLIENT_ROOT, MAX_LINES, {}, ("imprimatur_client",)) == []
    third_party = (
        {name.split(".")[0] for names in imports.values() for name in names}
        - set(sys.stdlib_module_names)
        - {"imprimatur_client"}
    )
    assert third_party == {"httpx", "tqdm"}  # the dependencies clients/python declares


def test_the_plain_python_packages_import_no_framework_and_no_app():
    imports = all_imports(ROOT)
    assert foreign_imports(imports, PLAIN_PACKAGES, FRAMEWORKS) == []
    for package in PLAIN_PACKAGES:  # and their rows allow only plain packages
        assert ALLOWED[package] <= set(PLAIN_PACKAGES), package
    assert any(module.startswith(PLAIN_PACKAGES) for module in imports)  # they were parsed


def test_no_import_cycle():
    assert import_cycles(import_graph(ROOT)) == []


def test_no_module_is_too_long_unless_allowed():
    assert oversized_modules(ROOT, MAX_LINES, LONG_MODULES) == []


def test_the_allowlist_names_only_long_modules():
    lines = module_lines(ROOT)
    assert [path for path in LONG_MODULES if lines.get(path, 0) <= MAX_LINES] == []


def test_audit_events_are_recorded_only_through_each_apps_events_module():
    """Every app records its events through the typed functions of its own events.py."""
    callers = set()
    for package in ("imprimatur", "governance", "generation"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "audit_record":
                    callers.add(str(path.relative_to(ROOT)))
    assert callers and all(caller.endswith("/events.py") for caller in callers), callers


# --- The checkers on a synthetic tree: each broken rule is reported ----------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def broken_tree(tmp_path) -> Path:
    _write(
        tmp_path,
        {
            "imprimatur/__init__.py": "",
            "governance/__init__.py": "",
            "governance/audit/__init__.py": "",
            # A forbidden import: governance imports generation.
            "governance/audit/x.py": "from generation.jobs import models\n",
            # A cycle: a relative import one way, one inside a function the other way.
            "governance/audit/a.py": "from . import b\n",
            "governance/audit/b.py": "def f():\n    from governance.audit import a\n",
            "governance/audit/migrations/0001_initial.py": "from generation.jobs import models\n",
            "generation/__init__.py": "",
            "generation/jobs/__init__.py": "",
            "generation/jobs/models.py": "from ..engine import run\n",  # allowed
            "generation/engine/__init__.py": "def run():\n    import django.db\n",
            "generation/engine/long.py": "x = 1\n" * (MAX_LINES + 1),
        },
    )
    return tmp_path


def test_the_checkers_report_each_broken_rule(broken_tree):
    modules = project_modules(broken_tree)
    assert "governance.audit.migrations.0001_initial" not in modules
    graph = import_graph(broken_tree)
    assert graph["generation.jobs.models"] == {"generation.engine"}  # relative, resolved

    # ``from generation.jobs import models`` imports the package and its module.
    assert forbidden_imports(graph, ALLOWED) == [
        "governance.audit.x imports generation.jobs (governance.audit -> generation.jobs)",
        "governance.audit.x imports generation.jobs.models (governance.audit -> generation.jobs)",
    ]
    assert import_cycles(graph) == [["governance.audit.a", "governance.audit.b"]]
    assert foreign_imports(all_imports(broken_tree), PLAIN_PACKAGES, FRAMEWORKS) == [
        "generation.engine imports django.db"
    ]
    assert oversized_modules(broken_tree, MAX_LINES, {}) == [
        f"generation/engine/long.py: {MAX_LINES + 1} lines"
    ]
    assert oversized_modules(broken_tree, MAX_LINES, {"generation/engine/long.py": "why"}) == []


def test_a_module_outside_every_rule_is_reported(broken_tree):
    _write(broken_tree, {"generation/newpkg/__init__.py": "from generation.jobs import models\n"})
    problems = forbidden_imports(import_graph(broken_tree), {"generation.jobs": ANY})
    assert "generation.newpkg: in no unit of the import rules" in problems
