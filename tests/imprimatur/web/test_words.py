"""Words for people (issue 18): the pages show internal codes in words (policy categories,
quota names, roles, NudeNet classes), decisions in
the past tense ("Rejected by", never "Rejectd by"), correct plurals, and tab titles made of
text. Each page is rendered by its view from real rows; the check reads the text a person
sees (tags and attribute values left out: an option's value may be a code)."""

import re
from html.parser import HTMLParser

import pytest

from generation.jobs.models import AssetCheck
from governance.policies.services import policy_create, policy_publish
from governance.reviews.models import ReviewTask
from imprimatur.web.labels import LABELS, label
from tests.generation.jobs.test_outcome import decide, reviewed_request
from tests.governance.policies.factories import document, term_rule

pytestmark = pytest.mark.django_db

CODES = re.compile(
    r"\b(public_figures|competitor_brands|self_harm|user_day|user_month|project_day|"
    r"project_month|check_flagged|check_failed|brand_below|face_detected|prompt_review|"
    r"examples\[\d+\]|[A-Z]+_[A-Z_]+)\b|https?://cv\.iptc\.org|"
    r"\b\w*[^e\s]d by\b|"  # "Rejectd by", "Request changesd by"; not "Rejected by"
    r"\b1 (checkpoints|events|images|steps|approvals)\b"
)


#: Left out of what a person reads as words: scripts, and code shown as code (a policy's
#: JSON source and its format's reference, rule ids, regular expressions).
SOURCE = ("script", "style", "code", "pre", "textarea")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in SOURCE

    def handle_endtag(self, tag):
        self.skip -= tag in SOURCE and self.skip > 0

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def raw_codes(page: str) -> list[str]:
    return [m.group(0) for m in CODES.finditer(visible_text(page))]


def test_the_request_page_says_decisions_categories_and_classes_in_words(client, acme):
    request, (first, second) = reviewed_request(acme)
    request.policy_matches = [{"rule": "celebs", "category": "public_figures", "action": "warn",
                               "text": "a star", "start": 0, "end": 6,
                               "explanation": "Mind likeness."}]  # fmt: skip
    request.policy_outcome = "allow"
    request.save(update_fields=["policy_matches", "policy_outcome"])
    AssetCheck.objects.create(
        asset=first, verdict="flag", suite_version="1", clip_model="tiny", trigger="generation",
        result={"verdict": "flag", "reasons": [], "safety": {"nudenet": {"detections": [
            {"class": "FACE_FEMALE", "score": 0.9, "threshold": 0.5, "action": "face",
             "triggered": True, "box": [1, 1, 4, 4]}]}}},
    )  # fmt: skip
    decide(acme, first, "reject", "Off brand.")
    decide(acme, second, "changes", "Make it red.")
    client.force_login(acme.users["creator"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    text = visible_text(page)
    assert "Rejected by acme-reviewer: “Off brand.”" in text
    assert "Changes requested by acme-reviewer: “Make it red.”" in text
    assert "public figures and likeness" in text
    assert "female face" in text and "counts as a face" in text
    assert raw_codes(page) == []


def test_the_task_page_says_who_opened_the_review_and_decisions_in_words(client, acme):
    _request, (asset, _other) = reviewed_request(acme)
    decide(acme, asset, "reject", "Off brand.")
    task = ReviewTask.objects.get(review__object_id=asset.pk, review__kind="asset")
    client.force_login(acme.users["reviewer"])
    text = visible_text(client.get(f"/reviews/tasks/{task.pk}/").content.decode())
    assert "Review opened by the platform when the image was generated" in text
    assert "Sent to review by acme-creator" not in text
    assert "rejected by acme-reviewer" in text and "rejectd" not in text.lower()


def test_the_reviews_tab_title_is_text(client, acme):
    reviewed_request(acme, images=1)
    client.force_login(acme.users["reviewer"])
    page = client.get("/reviews/").content.decode()
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert title == "Reviews · Imprimatur"


def test_the_policy_console_says_quotas_and_categories_in_words(client, acme):
    policy = policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft={**document(term_rule("celebs", "president", action="review",
                                    category="public_figures")),
               "limits": {"max_steps": 30, "quotas": {"user_day": 1, "project_month": 500}}},
    )  # fmt: skip
    policy_publish(policy=policy, user=acme.users["admin"])
    client.force_login(acme.users["compliance"])
    page = client.post(f"/policies/{policy.pk}/try/", {"prompt": "the president"}).content
    text = visible_text(page.decode())
    assert "1 image per person per day" in text and "500 images per project per month" in text
    assert "public figures and likeness" in text
    assert raw_codes(page.decode()) == []


def test_every_label_kind_answers_in_words():
    for kind, known in LABELS.items():
        for code, words in known.items():
            assert label(code, kind) == words
        assert label("some_new_code", kind) == "some new code"
    assert label("https://example.org/terms/virtualRecording", "nudenet") == "virtual recording"


def test_a_policy_page_shows_its_rules_in_words(client, acme):
    policy = policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft={
            **document(
                term_rule("celebs", "president", action="review", category="public_figures"),
                term_rule("rivals", "globocorp", action="warn", category="competitor_brands"),
            ),
            "limits": {"max_steps": 30, "quotas": {"user_day": 50}},
        },
    )
    client.force_login(acme.users["creator"])
    page = client.get(f"/policies/{policy.pk}/").content.decode()
    assert "What the draft would do (not published yet)" in page
    policy_publish(policy=policy, user=acme.users["admin"])
    page = client.get(f"/policies/{policy.pk}/").content.decode()
    start = page.index("data-policy-rules")
    rules = visible_text(page[start : page.index("</section>", start)])
    assert "What version 1 does" in rules
    assert "public figures and likeness Send to review president Rule celebs." in rules
    assert "trademarks and brands of others Warn globocorp" in rules
    assert "at most 30 steps; 50 images per person per day;" in rules
    assert raw_codes(page) == []
