"""The Content-Security-Policy: on every response, no inline scripts allowed, and none needed
(templates have no inline script or event handler; the API docs load theirs as a file)."""

import re
from pathlib import Path

import pytest
from django.test import Client

from tests.imprimatur.tenancy.factories import PASSWORD

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

pytestmark = pytest.mark.django_db


def script_sources(policy: str) -> list[str]:
    directives = dict(
        [*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip()
    )
    return (directives.get("script-src") or directives["default-src"]).split()


@pytest.mark.parametrize("url", ["/accounts/login/", "/api/v1/projects/", "/healthz", "/nowhere/"])
def test_every_response_carries_a_csp_without_inline_scripts(url):
    response = Client().get(url)
    policy = response["Content-Security-Policy"]
    assert script_sources(policy) == ["'self'"], policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


def test_logged_in_pages_carry_it_too(acme):
    client = Client()
    assert client.login(username=acme.users["admin"].username, password=PASSWORD)
    for url in ("/", f"/projects/{acme.project.slug}/brand/", "/reviews/", "/audit/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "unsafe-inline" not in " ".join(script_sources(response["Content-Security-Policy"]))
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url


def test_templates_have_no_inline_scripts_or_handlers():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text):
            offenders.append(f"{template.name}: inline <script>")
        if re.search(r"\son[a-z]+\s*=", text) or "javascript:" in text:
            offenders.append(f"{template.name}: inline event handler")
    assert offenders == []


def test_the_api_docs_load_their_script_from_a_file(acme):
    client = Client()
    client.force_login(acme.users["creator"])
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    script_url = re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html).group(1)
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
