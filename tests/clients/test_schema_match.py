"""The Python client (clients/python) matches the schema the server serves.

The client names every call it makes in ``OPERATIONS`` and every shape it reads in
``SHAPES``; this loads ``/api/schema/`` from the server and checks each: the path and
method exist, the query parameters and body fields it sends are declared, the success
answer is the component (or media type) it reads, and each TypedDict's keys are properties
of its component. Renaming an endpoint, a parameter or a field the client uses fails here;
the last test shows the check failing on a schema changed that way.
"""

import copy

import pytest
from imprimatur_client.client import OPERATIONS, SHAPES, Operation
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def served_schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _component_name(node: dict) -> str | None:
    return node["$ref"].rsplit("/", 1)[1] if "$ref" in node else None


def operation_problems(schema: dict, name: str, operation: Operation) -> list[str]:
    where = f"{name} ({operation.method.upper()} {operation.path})"
    item = schema["paths"].get(operation.path)
    if item is None or operation.method not in item:
        return [f"{where}: no such operation in the schema"]
    spec = item[operation.method]
    problems = []
    query = {p["name"] for p in spec.get("parameters", []) if p["in"] == "query"}
    problems += [f"{where}: no query parameter {q!r}" for q in operation.query if q not in query]
    if operation.body:
        content = spec.get("requestBody", {}).get("content", {})
        if operation.body_type not in content:
            problems.append(f"{where}: takes no {operation.body_type} body")
        else:
            properties = _resolve(schema, content[operation.body_type]["schema"]).get(
                "properties", {}
            )
            problems += [
                f"{where}: no body field {f!r}" for f in operation.body if f not in properties
            ]
    success = next((spec["responses"][c] for c in ("200", "201") if c in spec["responses"]), None)
    if success is None:
        return [*problems, f"{where}: no success answer"]
    content = success.get("content", {})
    if operation.response is not None:
        answered = _component_name(content.get("application/json", {}).get("schema", {}))
        if answered != operation.response:
            problems.append(
                f"{where}: answers {answered!r}, the client reads {operation.response!r}"
            )
    elif operation.response_types != ("application/json",):
        missing = [t for t in operation.response_types if t not in content]
        problems += [f"{where}: does not answer {t}" for t in missing]
    return problems


def shape_problems(schema: dict) -> list[str]:
    problems = []
    components = schema["components"]["schemas"]
    for component, shape in SHAPES.items():
        if component not in components:
            problems.append(f"component {component!r} is gone")
            continue
        properties = components[component].get("properties", {})
        problems += [
            f"{component}.{key}: not in the schema"
            for key in shape.__annotations__
            if key not in properties
        ]
    return problems


def all_problems(schema: dict) -> list[str]:
    problems = shape_problems(schema)
    for name, operation in OPERATIONS.items():
        problems += operation_problems(schema, name, operation)
    return problems


def test_the_client_matches_the_served_schema(served_schema):
    assert all_problems(served_schema) == []
    # Every shape the client reads is one that some operation answers with.
    answered = {op.response for op in OPERATIONS.values()} | {"Task"}
    assert set(SHAPES) <= answered


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["paths"].pop("/api/v1/audit/verify/"), "audit_verify"),
        (
            lambda s: s["components"]["schemas"]["Asset"]["properties"].pop("published_url"),
            "Asset.published_url",
        ),
        (
            lambda s: s["paths"]["/api/v1/audit/export/"]["get"]["parameters"].pop(0),
            "no query parameter",
        ),
        (
            lambda s: s["components"]["schemas"]["DecideInputRequest"]["properties"].pop(
                "decision"
            ),
            "no body field 'decision'",
        ),
    ],
)
def test_the_check_fails_when_an_endpoint_changes(served_schema, change, expected):
    changed = copy.deepcopy(served_schema)
    change(changed)
    problems = all_problems(changed)
    assert any(expected in problem for problem in problems), problems
