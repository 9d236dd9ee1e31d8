"""The structured policy editor: the document as forms and back, the page, its errors."""

import pytest

from governance.policies import editor, services
from governance.policies.documents import document_clean
from governance.policies.models import Policy
from tests.browser import SCREENSHOTS, needs_browser
from tests.governance.policies.factories import SAMPLE_DRAFT, document, pattern_rule, term_rule
from tests.imprimatur.tenancy.factories import PASSWORD

FULL_DRAFT = {
    **document(
        term_rule("nudity", "nude", "naked", "in the buff", category="sexual"),
        pattern_rule("gore", r"blood(y|ied)?", category="violence"),
        term_rule("rivals", "globex", action="warn", category="competitor_brands"),
        negative_additions=["watermark", "text"],
        output_concepts=["blood", {"concept": "weapons", "action": "fail", "threshold": 0.6}],
        examples=[
            {"prompt": "a nude statue", "expected": "block"},
            {"prompt": "a calm lake", "expected": "allow"},
        ],
    ),
    "limits": {
        "models": ["demo-shapes", "sd-tiny"],
        "max_steps": 30,
        "max_guidance": 9.5,
        "max_images": 2,
        "max_side": 512,
        "quotas": {"user_day": 50, "user_month": 500, "project_day": 0, "project_month": 4000},
    },
}


def as_post(forms: editor.EditorForms, **changes) -> dict:
    """What a browser posts for the forms as rendered (unchecked boxes are left out)."""
    data = {}
    everything = [forms.main, forms.limits]
    for formset in forms.lists.values():
        everything += [formset.management_form, *formset.forms]
    for form in everything:
        for field in form:
            value = field.value()
            if value is False or (field.name == "DELETE" and not value):
                continue
            data[field.html_name] = "" if value is None else str(value)
    data.update(changes)
    return data


def round_trip(draft: dict) -> dict:
    initial = editor.document_to_initial(document_clean(draft))
    posted = editor.editor_forms(as_post(editor.editor_forms(initial=initial, name="x")))
    assert posted.is_valid()
    return editor.forms_to_document(posted)


def test_round_trip_gives_back_the_same_document():
    back = round_trip(FULL_DRAFT)
    assert document_clean(back) == document_clean(FULL_DRAFT)
    assert back["rules"][1] == {**pattern_rule("gore", r"blood(y|ied)?", category="violence")}
    assert back["output_concepts"][0] == {"concept": "blood", "action": "flag"}
    assert back["limits"]["quotas"]["project_day"] == 0  # zero is a quota, not "not set"


def test_round_trip_of_the_sample_and_of_an_empty_document():
    assert document_clean(round_trip(SAMPLE_DRAFT)) == document_clean(SAMPLE_DRAFT)
    assert round_trip(document()) == {**document(), "limits": {}}


def test_blank_and_deleted_rows_are_left_out_and_positions_point_at_their_forms():
    initial = editor.document_to_initial(document_clean(FULL_DRAFT))
    data = as_post(
        editor.editor_forms(initial=initial),
        **{"rules-0-DELETE": "on", "limits-models": "a, b\nc,,", "examples-0-prompt": "  "},
    )
    forms = editor.editor_forms(data)
    assert forms.is_valid()
    draft = editor.forms_to_document(forms)
    assert [rule["id"] for rule in draft["rules"]] == ["gore", "rivals"]
    assert draft["limits"]["models"] == ["a", "b", "c"]
    assert draft["examples"] == [{"prompt": "a calm lake", "expected": "allow"}]
    # Three rules and one empty extra form; the first deleted.
    assert editor.form_positions(forms) == {
        "rules": [1, 2],
        "output_concepts": [0, 1],
        "examples": [1],
    }


# --- The page ---------------------------------------------------------------------------


@pytest.fixture
def policy(acme) -> Policy:
    return services.policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        name="Acme rules",
        draft=FULL_DRAFT,
    )


def editor_url(policy) -> str:
    return f"/policies/{policy.pk}/edit/"


def open_editor(client, tenant, policy, role="compliance"):
    client.force_login(tenant.users[role])
    response = client.get(editor_url(policy))
    assert response.status_code == 200
    return response


@pytest.mark.django_db
def test_page_shows_the_rules_and_limits_of_the_draft(client, acme, policy):
    page = open_editor(client, acme, policy).content.decode()
    assert 'value="nudity"' in page and "in the buff" in page
    assert 'value="blood(y|ied)?"' in page
    assert 'value="demo-shapes, sd-tiny"' in page
    assert 'name="limits-user_day" value="50"' in page
    assert 'name="limits-max_guidance" value="9.5"' in page
    assert "organisation policy: per user counts" in page
    assert f'href="/policies/{policy.pk}/"' in page  # back to the console and publishing
    assert "Publishing is refused until every example" in page
    assert "<legend>Quotas (images)</legend>" in page
    detail = client.get(f"/policies/{policy.pk}/").content.decode()
    assert f'href="/policies/{policy.pk}/edit/"' in detail and "Edit the draft" in detail
    assert "Edit as JSON (advanced)" in detail


@pytest.mark.django_db
def test_saving_a_changed_draft(client, acme, policy):
    forms = open_editor(client, acme, policy).context["forms"]
    data = as_post(
        forms,
        **{
            "name": "Acme rules 2",
            "rules-3-id": "cats",
            "rules-3-category": "custom",
            "rules-3-action": "review",
            "rules-3-explanation": "Big cats need a look.",
            "rules-3-kind": "terms",
            "rules-3-terms": "tiger\n\n  lion \n",
            "limits-max_steps": "",
            "limits-user_day": "7",
            "negative_additions": "watermark\nlogo",
            "concepts-1-threshold": "0.75",
        },
    )
    response = client.post(editor_url(policy), data)
    assert response.status_code == 302
    assert response["Location"] == f"/policies/{policy.pk}/"
    policy.refresh_from_db()
    assert policy.name == "Acme rules 2"
    assert policy.draft["rules"][3] == {
        "id": "cats",
        "category": "custom",
        "action": "review",
        "explanation": "Big cats need a look.",
        "terms": ["tiger", "lion"],
    }
    assert "max_steps" not in policy.draft["limits"]
    assert policy.draft["limits"]["quotas"]["user_day"] == 7
    assert policy.draft["negative_additions"] == ["watermark", "logo"]
    assert policy.draft["output_concepts"][1]["threshold"] == 0.75
    page = client.get(response["Location"]).content.decode()
    assert "The draft was saved." in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("pattern", "reason"), [("(a", "missing )"), ("gun(?=s)", "lookahead is not supported")]
)
def test_invalid_regex_is_shown_at_its_field_and_nothing_is_lost(
    client, acme, policy, pattern, reason
):
    forms = open_editor(client, acme, policy).context["forms"]
    data = as_post(
        forms,
        **{"rules-1-pattern": pattern, "rules-0-terms": "nude\nnaked\nstark", "name": "Typed"},
    )
    response = client.post(editor_url(policy), data)
    assert response.status_code == 400
    page = response.content.decode()
    pattern_form = response.context["forms"].rules.forms[1]
    assert pattern_form.errors["pattern"] and reason in pattern_form.errors["pattern"][0]
    assert 'id="id_rules-1-pattern_error" role="alert"' in page
    assert 'aria-invalid="true"' in page
    assert "The draft was not saved." in page
    assert 'href="#id_rules-1-pattern"' in page  # the summary links to the field
    assert "stark" in page and 'value="Typed"' in page  # what was typed is still there
    policy.refresh_from_db()
    assert policy.name == "Acme rules" and policy.draft["rules"][1]["pattern"] == "blood(y|ied)?"


@pytest.mark.django_db
def test_an_error_after_a_deleted_row_lands_on_the_right_form(client, acme, policy):
    forms = open_editor(client, acme, policy).context["forms"]
    data = as_post(
        forms,
        **{
            "rules-0-DELETE": "on",
            "rules-2-id": "bad id!",  # document position 1 once rule 0 is deleted
            "rules-1-pattern": "",  # pattern rule with an empty pattern
            "examples-0-prompt": "",  # a blank example row is left out …
            "examples-1-expected": "maybe",  # … so this one is examples[0]
            "limits-quotas-x": "1",
            "limits-project_month": "-3",
            "limits-models": "ok, not ok",
        },
    )
    response = client.post(editor_url(policy), data)
    assert response.status_code == 400
    forms = response.context["forms"]
    rules = forms.rules.forms
    assert "id" in rules[2].errors and not rules[1].errors.get("id")
    assert "the pattern is empty" in rules[1].errors["pattern"][0]
    assert not rules[0].errors  # deleted: not judged
    assert "expected" in forms.examples.forms[1].errors
    assert "Give a whole number of images" in forms.limits.errors["project_month"][0]
    assert forms.limits.errors["models"] == [
        "“not ok”: Give a model name (letters, digits, - and _)."
    ]
    page = response.content.decode()
    assert "Rule 3 (bad id!): Rule id" in page  # the summary names the rule as shown
    policy.refresh_from_db()
    assert [rule["id"] for rule in policy.draft["rules"]] == ["nudity", "gore", "rivals"]


@pytest.mark.django_db
def test_a_term_error_names_the_term(client, acme, policy):
    forms = open_editor(client, acme, policy).context["forms"]
    long_term = "x" * 201
    data = as_post(forms, **{"rules-0-terms": f"nude\n{long_term}"})
    response = client.post(editor_url(policy), data)
    assert response.status_code == 400
    errors = response.context["forms"].rules.forms[0].errors["terms"]
    assert errors[0].startswith("“xxxx") and "longer than 200 characters" in errors[0]


@pytest.mark.django_db
def test_a_word_in_a_number_field_is_reported_with_the_other_errors(client, acme, policy):
    forms = open_editor(client, acme, policy).context["forms"]
    data = as_post(forms, **{"limits-max_steps": "thirty", "rules-1-pattern": "(a"})
    response = client.post(editor_url(policy), data)
    assert response.status_code == 400
    forms = response.context["forms"]
    assert "Enter a whole number." in forms.limits.errors["max_steps"]
    assert "pattern" in forms.rules.forms[1].errors
    assert 'value="thirty"' in response.content.decode()


@pytest.mark.django_db
def test_deleting_a_rule(client, acme, policy):
    forms = open_editor(client, acme, policy).context["forms"]
    response = client.post(editor_url(policy), as_post(forms, **{"rules-1-DELETE": "on"}))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert [rule["id"] for rule in policy.draft["rules"]] == ["nudity", "rivals"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("button", "prefix", "first_field"),
    [("add_rule", "rules", "id"), ("add_concept", "concepts", "concept"),
     ("add_example", "examples", "prompt")],
)  # fmt: skip
def test_adding_a_row_rerenders_with_one_more_and_saves_nothing(
    client, acme, policy, button, prefix, first_field
):
    forms = open_editor(client, acme, policy).context["forms"]
    before = len(getattr(forms, prefix).forms)
    typed = {"rules-3-id": "half-typed", "rules-3-explanation": "Typed.", "rules-3-terms": "ok"}
    data = as_post(forms, **{button: "1", "name": "Not yet", **typed})
    response = client.post(editor_url(policy), data)
    assert response.status_code == 200
    formset = getattr(response.context["forms"], prefix)
    assert len(formset.forms) == before + 1
    page = response.content.decode()
    assert f'name="{prefix}-TOTAL_FORMS" value="{before + 1}"' in page
    assert f'name="{prefix}-{before}-{first_field}"' in page
    assert 'value="half-typed"' in page and 'value="Not yet"' in page
    assert "autofocus" in page
    policy.refresh_from_db()
    assert policy.name == "Acme rules" and len(policy.draft["rules"]) == 3
    # The added row, left empty, is ignored when saving.
    saved = client.post(editor_url(policy), as_post(response.context["forms"]))
    assert saved.status_code == 302
    policy.refresh_from_db()
    assert [rule["id"] for rule in policy.draft["rules"]] == [
        "nudity",
        "gore",
        "rivals",
        "half-typed",
    ]


@pytest.mark.django_db
def test_members_who_do_not_govern_get_403(client, acme, globex, policy):
    client.force_login(acme.users["admin"])
    data = as_post(client.get(editor_url(policy)).context["forms"], name="Mine")
    for role in ("creator", "reviewer", "auditor"):
        client.force_login(acme.users[role])
        assert client.get(editor_url(policy)).status_code == 403, role
        assert client.post(editor_url(policy), data).status_code == 403, role
        assert "Edit the draft" not in client.get(f"/policies/{policy.pk}/").content.decode()
    client.force_login(globex.users["admin"])
    assert client.get(editor_url(policy)).status_code == 404
    assert client.post(editor_url(policy), data).status_code == 404
    client.logout()
    assert client.get(editor_url(policy)).status_code == 302  # to the login page
    policy.refresh_from_db()
    assert policy.name == "Acme rules"


@pytest.mark.django_db
def test_broken_management_data_is_a_400_not_a_500(client, acme, policy):
    forms = open_editor(client, acme, policy).context["forms"]
    data = as_post(forms)
    del data["rules-TOTAL_FORMS"]
    assert client.post(editor_url(policy), data).status_code == 400
    assert client.post(editor_url(policy), {**data, "add_rule": "1"}).status_code == 400
    policy.refresh_from_db()
    assert len(policy.draft["rules"]) == 3


# --- In a real browser ----------------------------------------------------------------------


def browser_test(test):
    """``needs_browser`` on one test, so that the rest of this module runs without Chromium."""
    for mark in needs_browser:
        test = mark(test)
    return test


@browser_test
def test_compliance_adds_a_rule_and_a_quota_in_the_editor(
    transactional_db, live_server, acme, browser_page
):
    policy = services.policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        name="Acme rules",
        draft=SAMPLE_DRAFT,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-compliance")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/policies/{policy.pk}/")
    page.get_by_role("link", name="Edit the draft").click()
    page.get_by_role("heading", name="Edit the draft of Acme rules").wait_for()

    page.get_by_role("button", name="Add a rule").click()
    page.locator("fieldset#rules-3").wait_for()
    rule = page.locator("fieldset#rules-2")
    rule.get_by_label("Rule id").fill("weapons")
    rule.get_by_label("Category").select_option("violence")
    rule.get_by_label("When it matches").select_option("review")
    rule.get_by_label("Explanation shown to creators").fill("Weapons need a reviewer.")
    rule.get_by_label("Regular expression (RE2)", exact=True).first.check()
    assert not page.locator("#id_rules-2-terms").is_visible()  # only the chosen kind shows
    rule.locator("input[name='rules-2-pattern']").fill(r"(hand)?guns?")
    page.get_by_label("Per user per day").fill("25")
    page.get_by_role("button", name="Save draft").first.click()
    page.get_by_text("The draft was saved.").wait_for()
    page.screenshot(path=SCREENSHOTS / "policy-editor-saved.png", full_page=True)

    policy.refresh_from_db()
    assert policy.draft["rules"][2]["pattern"] == r"(hand)?guns?"
    assert policy.draft["rules"][2]["action"] == "review"
    assert policy.draft["limits"] == {"quotas": {"user_day": 25}}
    page.get_by_role("link", name="Edit the draft").click()
    page.screenshot(path=SCREENSHOTS / "policy-editor.png", full_page=True)

    page.locator("input[name='rules-1-pattern']").fill("gun(?=s)")
    page.get_by_label("Per project per month").fill("-1")
    page.get_by_role("button", name="Save draft").last.click()
    page.get_by_text("The draft was not saved.").wait_for()
    error = page.locator("#id_rules-1-pattern_error")
    assert "lookahead is not supported" in error.inner_text()
    assert page.locator("input[name='rules-1-pattern']").input_value() == "gun(?=s)"
    page.screenshot(path=SCREENSHOTS / "policy-editor-errors.png", full_page=True)


@pytest.mark.django_db
def test_saving_keeps_the_safety_classes_it_does_not_edit(client, acme, policy):
    services.policy_draft_update(
        policy=policy,
        user=acme.users["admin"],
        draft={**FULL_DRAFT, "safety_classes": {"FACE_MALE": {"action": "flag"}}},
    )
    forms = open_editor(client, acme, policy).context["forms"]
    response = client.post(editor_url(policy), as_post(forms, name="Renamed"))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.name == "Renamed"
    assert policy.draft["safety_classes"] == {"FACE_MALE": {"action": "flag"}}
