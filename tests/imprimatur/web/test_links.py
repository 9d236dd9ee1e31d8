"""No link leads a role to a page it cannot open: as each role of the organisation, follow
every link of the app from the dashboard (GET only, this host, bounded) and expect no 403,
404 or 500 — a link a role may not follow is not shown to it."""

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from tests.imprimatur.web.tour import ROLES, seed_tour, tour_pages

pytestmark = pytest.mark.django_db

#: Files, not pages (images, proofs, exports): their own tests download them.
FILE_PATH = re.compile(r"\.(png|jpe?g|webp|json|jsonl|csv|pdf|zip)$|/export/|/pdf/$")
#: Pages the crawl leaves alone: signing out, the framework's admin, the API's schema.
SKIPPED = ("/accounts/logout/", "/admin/", "/api/schema/")
#: At most this many URLs of one shape (digits as N, query keys without values), except the
#: audit log's events: each links to its target, whatever kind it is.
PER_SHAPE = 3
UNBOUNDED_SHAPES = ("/audit/events/N/?",)
MAX_PAGES = 250
#: Pages of the tour every crawl must reach (those it may open).
WALKED = {
    *("dashboard", "projects", "project", "request", "review-queue", "inbox", "policies"),
    *("policy", "audit", "audit-event", "reports", "settings", "members", "verify", "models"),
}


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href") and "download" not in attrs:
            self.hrefs.append(attrs["href"])


def shape(url: str) -> str:
    parts = urlsplit(url)
    keys = sorted(pair.split("=")[0] for pair in parts.query.split("&") if pair)
    return re.sub(r"\d+", "N", parts.path) + "?" + "&".join(keys)


def crawl(client, start: str = "/") -> dict[str, tuple[int, str]]:
    """URL → (status, the page that linked to it), for every page reached."""
    seen: dict[str, tuple[int, str]] = {}
    shapes: dict[str, int] = {}
    queue = deque([(start, "")])
    while queue and len(seen) < MAX_PAGES:
        url, referrer = queue.popleft()
        if url in seen:
            continue
        response = client.get(url)
        seen[url] = (response.status_code, referrer)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        parser = Links()
        parser.feed(response.content.decode())
        for href in parser.hrefs:
            target, _ = urldefrag(urljoin(url, href))
            parts = urlsplit(target)
            if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
                continue  # another site
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if (
                local in seen
                or FILE_PATH.search(parts.path)
                or parts.path.startswith(SKIPPED)
                or (
                    shapes.get(shape(local), 0) >= PER_SHAPE
                    and shape(local) not in UNBOUNDED_SHAPES
                )
            ):
                continue
            shapes[shape(local)] = shapes.get(shape(local), 0) + 1
            queue.append((local, url))
    return seen


def test_no_link_leads_a_role_to_a_page_it_cannot_open(client, acme, tiny_model_path, monkeypatch):
    ids = seed_tour(acme, monkeypatch)
    broken = {}
    for role in ROLES:
        client.force_login(acme.users[role])
        seen = crawl(client)
        broken |= {
            f"{role} {url}": f"{status} (linked from {referrer})"
            for url, (status, referrer) in seen.items()
            if status in (403, 404, 500)
        }
        # The crawl did walk the app: it reached the pages of the tour linked from the
        # navigation and from the project's request.
        reached = {urlsplit(url).path for url in seen}
        for name, url, roles in tour_pages(acme, ids):
            if role in roles and name in WALKED:
                assert url in reached, f"{name} ({url}) was not reached as {role}"
    assert broken == {}, f"Links to pages the role cannot open: {broken}"
