"""A typed client of the Imprimatur API, written by hand over its OpenAPI schema.

Every call the client makes is named in ``OPERATIONS`` (method, path, the query parameters
and body fields it sends, the response schema it reads), and the shapes it reads are the
TypedDicts below, named after the schema's components. The server's test suite loads the
schema the server serves (``/api/schema/``) and fails when one of these no longer matches
(tests/clients/test_schema_match.py): an endpoint renamed, a parameter or field gone.

It talks HTTP only (httpx) and imports nothing of the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypedDict

import httpx

from imprimatur_client import __version__

DEFAULT_URL = "http://127.0.0.1:8000"
FINISHED = frozenset({"succeeded", "failed", "cancelled", "rejected", "changes_requested"})


# --- What the API answers (the schema's components, the fields this client reads) ---------


class Progress(TypedDict):
    status: str | None
    cancel_requested: bool
    step: int
    total: int
    attempts: int


class Asset(TypedDict):
    id: int
    request: int
    index: int
    seed: int
    width: int
    height: int
    sha256: str
    status: str
    check_verdict: str
    quarantined: bool
    url: str | None
    published_url: str | None


class GenerationRequest(TypedDict):
    id: int
    project: str
    status: str
    prompt: str
    model: str
    width: int
    height: int
    steps: int
    seed: int | None
    num_images: int
    created_at: str
    finished_at: str | None
    error: str
    progress: Progress
    assets: list[Asset]


class Task(TypedDict):
    id: int
    kind: str
    review: int
    review_status: str
    title: str
    project: str
    requested_by: str
    name: str
    role: str
    stage_index: int
    stages: int
    due_at: str | None
    status: str
    object_url: str


class AuditVerifyResult(TypedDict):
    intact: bool
    last_sequence: int
    checkpoints: int
    broken_sequence: int | None
    reason: str
    summary: str


class ShareLink(TypedDict):
    id: int
    asset: int
    url: str | None
    expires_at: str
    revoked_at: str | None
    created_by: str
    created_at: str
    uses: int


# --- The operations this client calls ---------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as the schema writes it: /api/v1/requests/{id}/
    query: tuple[str, ...] = ()
    body: tuple[str, ...] = ()  # the request body's fields this client sends
    body_type: str = "application/json"
    response: str | None = None  # the schema component of the success answer
    response_types: tuple[str, ...] = ("application/json",)


OPERATIONS: dict[str, Operation] = {
    "token": Operation("post", "/api/v1/auth/token/", body=("username", "password")),
    "submit": Operation(
        "post",
        "/api/v1/projects/{slug}/requests/",
        body=(
            "prompt",
            "negative_prompt",
            "model",
            "width",
            "height",
            "steps",
            "guidance_scale",
            "seed",
            "num_images",
        ),
        response="GenerationRequest",
    ),
    "request": Operation("get", "/api/v1/requests/{id}/", response="GenerationRequest"),
    "asset": Operation("get", "/api/v1/assets/{id}/", response="Asset"),
    "asset_file": Operation("get", "/api/v1/assets/{id}/file/", response_types=("image/png",)),
    "verify": Operation(
        "post", "/api/v1/provenance/verify/", body=("image",), body_type="multipart/form-data"
    ),
    "tasks": Operation(
        "get", "/api/v1/reviews/tasks/", query=("page", "page_size"), response="PaginatedTaskList"
    ),
    "decide": Operation(
        "post",
        "/api/v1/reviews/tasks/{id}/decide/",
        body=("decision", "comment"),
        response="Task",
    ),
    "audit_export": Operation(
        "get",
        "/api/v1/audit/export/",
        query=("format", "since", "until", "action", "project"),
        response_types=("application/x-ndjson", "text/csv"),
    ),
    "audit_verify": Operation("post", "/api/v1/audit/verify/", response="AuditVerifyResult"),
    "share_create": Operation(
        "post", "/api/v1/assets/{id}/share-links/", body=("expires_in_hours",), response="ShareLink"
    ),
    "share_revoke": Operation("post", "/api/v1/share-links/{id}/revoke/", response="ShareLink"),
}

#: The TypedDict of each schema component the client reads (checked against the schema).
SHAPES: dict[str, type] = {
    "GenerationRequest": GenerationRequest,
    "Asset": Asset,
    "Task": Task,
    "AuditVerifyResult": AuditVerifyResult,
    "ShareLink": ShareLink,
}


# --- Errors -----------------------------------------------------------------------------


class ImprimaturError(Exception):
    """An answer other than success, or no answer. ``status`` 0: no answer at all."""

    def __init__(self, status: int, detail: str, code: str = "", errors: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.code = status, detail, code
        self.errors: dict[str, list[str]] = errors or {}

    def __str__(self) -> str:
        fields = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in self.errors.items())
        return f"{self.detail} ({fields})" if fields and fields not in self.detail else self.detail


class AuthError(ImprimaturError):
    """401 or 403: no token, a bad one, or a token whose user may not do this."""


class NotFound(ImprimaturError):
    """404: no such object, or one of another organisation (the API does not tell)."""


class Invalid(ImprimaturError):
    """400: the server refused the input; ``errors`` names the fields."""


class Conflict(ImprimaturError):
    """409: the object's state does not allow this (a task decided by someone else)."""


class ServerError(ImprimaturError):
    """5xx, 429, or no answer (connection refused, timeout)."""


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = body.get("detail") or f"HTTP {response.status_code} from {response.url}"
    kind = {400: Invalid, 401: AuthError, 403: AuthError, 404: NotFound, 409: Conflict}.get(
        response.status_code, ServerError
    )
    raise kind(response.status_code, str(detail), body.get("code", ""), body.get("errors"))


# --- The client -------------------------------------------------------------------------


@dataclass
class Client:
    """``Client(url, token)``: every method is one API call (``wait`` polls one)."""

    url: str = DEFAULT_URL
    token: str | None = None
    timeout: float = 60.0
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        headers = {"User-Agent": f"imprimatur-client/{__version__}", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _call(self, name: str, *, path: dict | None = None, **kwargs) -> httpx.Response:
        operation = OPERATIONS[name]
        url = operation.path.format(**(path or {}))
        try:
            response = self._http.request(operation.method.upper(), url, **kwargs)
        except httpx.HTTPError as error:
            raise ServerError(0, f"No answer from {self.url}: {error}") from error
        _raise_for(response)
        return response

    # Authentication
    def token_obtain(self, username: str, password: str) -> str:
        body = {"username": username, "password": password}
        return self._call("token", json=body).json()["token"]

    # Generation
    def submit(self, project: str, prompt: str, **params: Any) -> GenerationRequest:
        unknown = set(params) - set(OPERATIONS["submit"].body)
        if unknown:
            raise TypeError(f"Unknown parameters: {', '.join(sorted(unknown))}")
        body = {"prompt": prompt, **{k: v for k, v in params.items() if v is not None}}
        return self._call("submit", path={"slug": project}, json=body).json()

    def request(self, request_id: int) -> GenerationRequest:
        return self._call("request", path={"id": request_id}).json()

    def wait(
        self,
        request_id: int,
        *,
        timeout: float = 600.0,
        interval: float = 1.0,
        on_progress: Callable[[GenerationRequest], None] | None = None,
    ) -> GenerationRequest:
        """Poll the request until it has ended (any end); TimeoutError past ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.request(request_id)
            if on_progress is not None:
                on_progress(current)
            if current["status"] in FINISHED:
                return current
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Request {request_id} is still {current['status']} after {timeout:g}s."
                )
            time.sleep(interval)

    def asset(self, asset_id: int) -> Asset:
        return self._call("asset", path={"id": asset_id}).json()

    def download(self, url: str, out: BinaryIO) -> int:
        """Stream a file link the API gave (``url``, ``published_url``) into ``out``; the
        number of bytes. Only links on this server: the token goes nowhere else."""
        if not url.startswith(self.url + "/"):
            raise ImprimaturError(0, f"{url} is not on {self.url}; not sending the token there.")
        written = 0
        try:
            with self._http.stream("GET", url, headers={"Accept": "*/*"}) as response:
                if not response.is_success:
                    response.read()
                    _raise_for(response)
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    written += len(chunk)
        except httpx.HTTPError as error:
            raise ServerError(0, f"No answer from {self.url}: {error}") from error
        return written

    # Provenance
    def verify(self, path: Path) -> dict:
        """The server's verification of an image file: ``report`` (the C2PA manifest: status
        trusted, valid, untrusted, tampered, absent…), ``asset`` (which of yours, if any),
        ``summary``."""
        with open(path, "rb") as image:
            files = {"image": (Path(path).name, image)}
            return self._call("verify", files=files).json()

    # Reviews
    def tasks(self) -> list[Task]:
        """Every open task my roles decide (all pages)."""
        tasks: list[Task] = []
        page = 1
        while True:
            body = self._call("tasks", params={"page": page, "page_size": 100}).json()
            tasks.extend(body["results"])
            if not body.get("next"):
                return tasks
            page += 1

    def decide(self, task_id: int, decision: str, comment: str = "") -> Task:
        body = {"decision": decision, "comment": comment}
        return self._call("decide", path={"id": task_id}, json=body).json()

    # Audit
    def audit_export(self, out: BinaryIO, file_format: str = "jsonl", **filters: str) -> int:
        """Stream the audit log (what the filters keep) into ``out``; the bytes written."""
        unknown = set(filters) - set(OPERATIONS["audit_export"].query)
        if unknown:
            raise TypeError(f"Unknown filters: {', '.join(sorted(unknown))}")
        params = {"format": file_format, **{k: v for k, v in filters.items() if v}}
        written = 0
        operation = OPERATIONS["audit_export"]
        try:
            with self._http.stream(
                "GET", operation.path, params=params, headers={"Accept": "*/*"}
            ) as response:
                if not response.is_success:
                    response.read()
                    _raise_for(response)
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    written += len(chunk)
        except httpx.HTTPError as error:
            raise ServerError(0, f"No answer from {self.url}: {error}") from error
        return written

    def audit_verify(self) -> AuditVerifyResult:
        return self._call("audit_verify").json()

    # Share links
    def share_create(self, asset_id: int, expires_in_hours: int) -> ShareLink:
        body = {"expires_in_hours": expires_in_hours}
        return self._call("share_create", path={"id": asset_id}, json=body).json()

    def share_revoke(self, link_id: int) -> ShareLink:
        return self._call("share_revoke", path={"id": link_id}).json()
