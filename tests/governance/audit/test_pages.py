"""The audit browser: auditors and admins of an organisation read its events only, filter
them, page through them by sequence, read one, export what they see and verify the chain."""

import json

import pytest

from governance.audit.chain import event_hash
from governance.audit.models import AuditEvent
from governance.audit.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(acme, globex):
    for index in range(120):
        audit_record(
            action="tenancy.project.update",
            actor=acme.users["admin"],
            organization=acme.organization,
            target=acme.project,
            data={"project": acme.project.slug, "note": f"change {index}"},
        )
    audit_record(
        action="policies.policy.create",
        actor=globex.users["admin"],
        organization=globex.organization,
        data={"secret": "globex only"},
    )


def test_only_auditors_and_admins_of_the_organisation_read_it(client, acme, globex, events):
    client.force_login(acme.users["creator"])
    assert client.get("/audit/").status_code == 403
    client.force_login(acme.users["auditor"])
    page = client.get("/audit/")
    assert page.status_code == 200
    shown = page.context["events"]
    assert len(shown) == 50 and all(e.organization_id == acme.organization.pk for e in shown)
    assert "globex only" not in page.content.decode()
    assert [e.sequence for e in shown] == sorted((e.sequence for e in shown), reverse=True)
    globex_event = client.get("/audit/?action=policies.policy.create").context["events"]
    assert globex_event == []
    client.force_login(globex.users["auditor"])
    sequence = shown[0].sequence
    assert client.get(f"/audit/events/{sequence}/").status_code == 404


def test_keyset_pages_and_filters(client, acme, events):
    client.force_login(acme.users["admin"])
    first = client.get("/audit/?action=tenancy.")
    following = first.context["following"]
    second = client.get(f"/audit/?action=tenancy.&before={following}")
    assert second.context["events"][0].sequence == following - 1
    assert "before=" in first.content.decode()
    found = client.get("/audit/?q=change 7&project=" + acme.project.slug).context["events"]
    assert {e.data["note"] for e in found} == {"change 7", *(f"change {i}" for i in range(70, 80))}
    assert client.get("/audit/?actor=nobody").context["events"] == []
    bad = client.get("/audit/?since=yesterday")
    assert bad.status_code == 400 and "is not a date" in bad.content.decode()


def test_one_event_with_its_hashes(client, acme, events):
    client.force_login(acme.users["auditor"])
    newest = client.get("/audit/?action=tenancy.project.update").context["events"][0]
    sequence = newest.sequence
    page = client.get(f"/audit/events/{sequence}/").content.decode()
    assert "tenancy.project.update" in page and "change 119" in page and "Previous hash" in page


def test_exports_stream_what_is_shown_with_checkable_hashes(client, acme, events):
    client.force_login(acme.users["auditor"])
    response = client.get("/audit/export.jsonl?q=change 11")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert {line["data"]["note"] for line in lines} == {
        "change 11",
        *(f"change 11{i}" for i in range(10)),
    }
    for line in lines:
        stored = line.pop("hash")
        assert event_hash(line) == stored  # each exported event checks on its own
    csv_text = b"".join(client.get("/audit/export.csv").streaming_content).decode()
    assert csv_text.splitlines()[0].startswith("sequence,created_at,actor_name")
    # The header, acme's 120 events (not globex's), the auditor's sign-in (force_login) and
    # the JSON Lines export's own event; not the CSV export's event, recorded after the
    # head the export stops at.
    assert len(csv_text.splitlines()) == 1 + 120 + 1 + 1
    exported = AuditEvent.objects.filter(action="audit.export").order_by("sequence")
    assert [event.data for event in exported] == [
        {"format": "jsonl", "filters": {"q": "change 11"}},
        {"format": "csv", "filters": {}},
    ]
    assert {event.organization_id for event in exported} == {acme.organization.pk}


def test_the_verify_button_reports_the_chain(client, acme, events):
    client.force_login(acme.users["auditor"])
    page = client.post("/audit/verify/", follow=True).content.decode()
    assert "The audit log is intact: the chain verified, with the " in page


def test_the_events_of_one_user_action(client, acme, events):
    from governance.audit.services import current_request_id

    token = current_request_id.set("r-one-user-action")
    try:
        for note in ("first", "second"):
            audit_record(
                action="tenancy.project.update",
                actor=acme.users["admin"],
                organization=acme.organization,
                data={"note": note},
            )
    finally:
        current_request_id.reset(token)
    client.force_login(acme.users["auditor"])
    shown = client.get("/audit/?request=r-one-user-action").context["events"]
    assert [event.data["note"] for event in shown] == ["second", "first"]
    detail = client.get(f"/audit/events/{shown[0].sequence}/").content.decode()
    assert 'href="/audit/?request=r-one-user-action"' in detail


def test_filters_are_carried_to_the_next_page_and_exports_url_encoded(client, acme, events):
    client.force_login(acme.users["auditor"])
    page = client.get("/audit/", {"q": "change 1", "project": acme.project.slug})
    # "change 1" matches change 1, 10 to 19 and 100 to 119: 31 events, one page.
    assert len(page.context["events"]) == 31
    html = page.content.decode()
    assert "q=change+1" in html and "q=change 1" not in html
    # A value with "&" and "#" stays one value, not a second parameter or a fragment.
    tricky = client.get("/audit/", {"q": "a&b#c"})
    assert tricky.context["params"] == "q=a%26b%23c"


def test_an_event_links_to_its_target_or_says_it_is_gone(client, acme):
    from imprimatur.tenancy.models import Membership

    about_project = audit_record(
        action="tenancy.project.update", organization=acme.organization, target=acme.project
    )
    membership = Membership.objects.get(user=acme.users["creator"])
    about_membership = audit_record(
        action="tenancy.membership.grant", organization=acme.organization, target=membership
    )
    client.force_login(acme.users["auditor"])
    page = client.get(f"/audit/events/{about_project.sequence}/").content.decode()
    assert f'<a href="/projects/{acme.project.slug}/">{acme.project.name}</a>' in page
    assert "no longer exists" not in page
    assert "every event about it" in page
    gone = membership.pk
    membership.delete()
    page = client.get(f"/audit/events/{about_membership.sequence}/").content.decode()
    assert "(no longer exists)" in page and f"tenancy.membership:{gone}" in page


def test_an_event_page_offers_its_inclusion_proof(client, acme, globex, events, settings, tmp_path):
    from governance.audit.merkle import event_leaf, root_from_path
    from governance.audit.models import AuditCheckpoint

    settings.IMPRIMATUR_AUDIT_KEY = str(tmp_path / "audit_key.pem")
    client.force_login(acme.users["auditor"])
    sequence = client.get("/audit/").context["events"][3].sequence
    page = client.get(f"/audit/events/{sequence}/").content.decode()
    assert f'href="/audit/events/{sequence}/proof.json"' in page
    assert not AuditCheckpoint.objects.exists()
    response = client.get(f"/audit/events/{sequence}/proof.json")
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'proof-{sequence}.json"')
    proof = json.loads(response.content)
    checkpoint = AuditCheckpoint.objects.get()  # signed on demand
    assert proof["checkpoint"]["tree_root"] == checkpoint.tree_root
    assert proof["event"]["sequence"] == sequence and proof["tree_size"] == checkpoint.sequence
    leaf = event_leaf(proof["event"]["hash"])
    path = [bytes.fromhex(node) for node in proof["audit_path"]]
    root = root_from_path(leaf, sequence - 1, proof["tree_size"], path)
    assert root.hex() == checkpoint.tree_root
    recorded = AuditEvent.objects.get(action="audit.proof")
    assert recorded.data == {"sequence": sequence, "tree_size": checkpoint.sequence}
    assert recorded.organization_id == acme.organization.pk
    # Another organisation's auditor gets no proof of acme's event.
    client.force_login(globex.users["auditor"])
    assert client.get(f"/audit/events/{sequence}/proof.json").status_code == 404


def test_previous_and_next_stay_in_the_auditors_organisations(client, acme, globex):
    mine = [
        audit_record(action="tenancy.project.update", organization=acme.organization)
        for _ in range(2)
    ]
    theirs = audit_record(action="tenancy.project.update", organization=globex.organization)
    last = audit_record(action="tenancy.project.update", organization=acme.organization)
    assert mine[1].sequence < theirs.sequence < last.sequence
    client.force_login(acme.users["auditor"])
    page = client.get(f"/audit/events/{mine[1].sequence}/").content.decode()
    assert f'href="/audit/events/{mine[0].sequence}/">previous' in page
    assert f'href="/audit/events/{last.sequence}/">next' in page  # globex's event skipped
    # After `last`, only the auditor's own sign-in (force_login) is acme's; after it, nothing.
    login = AuditEvent.objects.get(action="auth.login")
    assert client.get(f"/audit/events/{last.sequence}/").context["following"] == login.sequence
    newest = client.get(f"/audit/events/{login.sequence}/")
    assert newest.context["following"] is None and ">next<" not in newest.content.decode()
