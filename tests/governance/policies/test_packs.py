"""Baseline packs (issue 19): shipped, versioned data whose examples are tests; adopted per
category with an action, shown as a diff before a new version is adopted, recorded in the
published version; a fresh ``seed_demo`` judges Acme's prompts by them."""

import hashlib
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from governance.audit.models import AuditEvent
from governance.policies import packs
from governance.policies.documents import document_clean
from governance.policies.matching import CompiledPolicy, Outcome, Rule
from governance.policies.packs import pack_diff, pack_names, pack_rules, packs_latest
from governance.policies.services import (
    policy_baseline_adopt,
    policy_create,
    policy_evaluate,
    policy_pack_adopt,
    policy_pack_drop,
    policy_publish,
)
from tests.governance.policies.factories import document, term_rule

PACKS = {pack["pack"]: pack for pack in packs_latest()}
CATEGORIES = {
    "sexual", "violence", "hate", "drugs", "weapons", "self_harm", "minors", "public_figures",
    "trademarks",
}  # fmt: skip
LANGUAGES = {"en", "de", "fr", "es", "it", "pt"}
EXPECTED = {"block": Outcome.BLOCK, "review": Outcome.REVIEW, "warn": Outcome.ALLOW}


def test_the_nine_baseline_packs_are_shipped_in_six_languages():
    assert set(pack_names()) == CATEGORIES
    for name, pack in PACKS.items():
        languages = {*pack["terms"], *pack.get("exact", {})}
        assert languages >= LANGUAGES or "any" in languages, name
        assert pack["note"] and pack["explanation"], name
    assert len(CompiledPolicy.from_rules(all_pack_rules()).rules) >= 9 * 6


def all_pack_rules(action=None):
    return [
        rule
        for pack in packs_latest()
        for rule in pack_rules(pack["pack"], pack["version"], action or pack["default_action"])
    ]


EXAMPLES = [
    (name, expected, prompt)
    for name, pack in PACKS.items()
    for expected, prompts in pack["examples"].items()
    for prompt in prompts
]


@pytest.mark.parametrize(("name", "expected", "prompt"), EXAMPLES)
def test_every_pack_example_gets_its_outcome(name, expected, prompt):
    pack = PACKS[name]
    alone = CompiledPolicy.from_rules(pack_rules(name, pack["version"], pack["default_action"]))
    evaluation = alone.evaluate(prompt)
    if expected == "allow":
        assert evaluation.matches == (), evaluation.matches
        # Nor does any other pack match a pack's harmless example.
        assert CompiledPolicy.from_rules(all_pack_rules()).match(prompt) == []
    else:
        assert pack["default_action"] == expected
        assert evaluation.outcome == EXPECTED[expected], evaluation
        assert evaluation.matches and {m.category for m in evaluation.matches} == {pack["category"]}


@pytest.mark.parametrize(
    ("prompt", "language"),
    [
        ("a nude woman on a beach", "en"),
        ("eine nackte Frau am Strand", "de"),
        ("una mujer desnuda en la playa", "es"),
        ("une femme nue sur la plage", "fr"),
        ("una donna nuda sulla spiaggia", "it"),
        ("uma mulher nua na praia", "pt"),
    ],
)
def test_nudity_is_judged_alike_in_every_language(prompt, language):
    matches = CompiledPolicy.from_rules(all_pack_rules()).match(prompt)
    assert matches  # "femme nue" is a term too, besides "nue"
    for match in matches:
        assert match.rule_id.startswith(f"pack.sexual.{language}")
        assert match.explanation == PACKS["sexual"]["explanation"]


def test_inflection_is_a_rule_option_on_by_default():
    inflected = CompiledPolicy.from_rules([Rule("r", "custom", "block", "No.", ("sneaker",))])
    exact = CompiledPolicy.from_rules(
        [Rule("r", "custom", "block", "No.", ("sneaker",), inflect=False)]
    )
    assert [m.matched_text for m in inflected.match("two sneakers")] == ["sneakers"]
    assert exact.match("two sneakers") == []
    clean = document_clean(
        document({**term_rule("r", "zapato"), "inflect": True, "language": "es"})
    )
    assert clean["rules"][0] == {**term_rule("r", "zapato"), "language": "es"}
    with pytest.raises(ValidationError) as refused:
        document_clean(document({**term_rule("pack.x", "a"), "inflect": "yes", "language": "xx"}))
    assert set(refused.value.message_dict) == {
        "draft.rules[0].id",
        "draft.rules[0].inflect",
        "draft.rules[0].language",
    }


def test_a_document_names_only_shipped_pack_versions():
    with pytest.raises(ValidationError) as refused:
        document_clean(
            {
                "packs": [
                    {"pack": "nonsense", "version": 1, "action": "block"},
                    {"pack": "sexual", "version": 99, "action": "block"},
                    {"pack": "sexual", "version": 1, "action": "delete"},
                    {"pack": "hate", "version": 1, "action": "block", "extra": 1},
                    {"pack": "drugs", "version": 1, "action": "warn"},
                    {"pack": "drugs", "version": 1, "action": "block"},
                ]
            }
        )
    assert set(refused.value.message_dict) == {
        "draft.packs[0].pack",
        "draft.packs[1].version",
        "draft.packs[2].action",
        "draft.packs[3]",
        "draft.packs[5].pack",
    }


@pytest.fixture
def two_versions(tmp_path, monkeypatch):
    """A packs folder with v1 and v2 of one pack (test data, not the shipped packs)."""
    folder = tmp_path / "sexual"
    folder.mkdir()
    v1 = json.loads((packs.PACKS_DIR / "sexual" / "v1.json").read_text(encoding="utf-8"))
    v2 = {**v1, "version": 2, "terms": {**v1["terms"], "en": [*v1["terms"]["en"], "lewd"]}}
    v2["terms"]["de"] = [t for t in v1["terms"]["de"] if t != "nackig"]
    for data in (v1, v2):
        (folder / f"v{data['version']}.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(packs, "PACKS_DIR", tmp_path)
    return v1, v2


def test_a_new_pack_version_is_a_diff_of_terms(two_versions):
    diff = pack_diff("sexual", 1, 2)
    assert diff["added"] == [{"language": "en", "kind": "terms", "term": "lewd"}]
    assert diff["removed"] == [{"language": "de", "kind": "terms", "term": "nackig"}]
    assert diff["changed"] == {}
    assert len(pack_diff("sexual", None, 1)["added"]) > 50


@pytest.mark.django_db
def test_adopting_a_pack_is_audited_and_recorded_in_the_published_version(acme, client):
    admin = acme.users["admin"]
    policy = policy_create(organization=acme.organization, user=admin)
    policy = policy_pack_adopt(policy=policy, user=admin, pack="sexual", version=1, action="review")
    policy = policy_pack_adopt(policy=policy, user=admin, pack="sexual", version=1, action="block")
    policy_pack_adopt(policy=policy, user=admin, pack="drugs", version=1, action="warn")
    policy = policy_pack_drop(policy=policy, user=admin, pack="drugs")
    events = AuditEvent.objects.filter(action__startswith="policies.pack.").order_by("sequence")
    assert [(e.action, e.data["pack"]) for e in events] == [
        ("policies.pack.adopt", "sexual"),
        ("policies.pack.adopt", "sexual"),
        ("policies.pack.adopt", "drugs"),
        ("policies.pack.drop", "drugs"),
    ]
    assert events[1].data["previous"] == {"pack": "sexual", "version": 1, "action": "review"}
    version = policy_publish(policy=policy, user=admin)
    assert version.content["packs"] == [{"pack": "sexual", "version": 1, "action": "block"}]
    assert version.diff["summary"] == "packs: 1 added"
    decision = policy_evaluate(project=acme.project, prompt="una mujer desnuda en la playa")
    assert decision.outcome == Outcome.BLOCK
    assert decision.organization_version_id == version.pk
    with pytest.raises(ValidationError):
        policy_pack_drop(policy=policy, user=admin, pack="hate")


@pytest.mark.django_db
def test_the_packs_page_shows_a_new_version_as_a_diff_and_adopts_it(acme, client, two_versions):
    admin = acme.users["admin"]
    policy = policy_create(organization=acme.organization, user=admin)
    policy_pack_adopt(policy=policy, user=admin, pack="sexual", version=1, action="block")
    client.force_login(acme.users["compliance"])
    page = client.get(f"/policies/{policy.pk}/packs/").content.decode()
    assert "newer version available" in page
    assert "What v2 changes since v1: 1 term added, 1 removed" in page
    assert '<span class="added">lewd</span>' in page
    assert '<span class="removed">nackig</span>' in page
    response = client.post(
        f"/policies/{policy.pk}/packs/", {"pack": "sexual", "version": 2, "action": "review"}
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.draft["packs"] == [{"pack": "sexual", "version": 2, "action": "review"}]
    bad = client.post(f"/policies/{policy.pk}/packs/", {"pack": "sexual", "version": 7})
    assert bad.status_code == 400
    client.force_login(acme.users["creator"])  # may read the policy, not change it
    readonly = client.get(f"/policies/{policy.pk}/packs/").content.decode()
    assert "v2, review" in readonly and "Adopt v" not in readonly
    client.force_login(acme.users["auditor"])
    forbidden = client.post(
        f"/policies/{policy.pk}/packs/", {"pack": "sexual", "version": 1, "action": "warn"}
    )
    assert forbidden.status_code in (403, 404)


@pytest.mark.django_db
def test_a_fresh_seed_judges_acme_by_the_baseline_and_says_so_in_the_feedback(client, settings):
    from imprimatur.tenancy.models import BrandProject

    call_command("seed_demo")
    project = BrandProject.objects.get(slug="spring-campaign")
    client.force_login(project.organization.memberships.get(role="creator").user)
    for prompt, shown in [
        ("a nude woman on a beach", "nude"),
        ("eine nackte Frau am Strand", "nackte"),
        ("una mujer desnuda en la playa", "desnuda"),
    ]:
        assert policy_evaluate(project=project, prompt=prompt).outcome == Outcome.BLOCK
        response = client.post(f"/projects/{project.slug}/policy-check/", {"prompt": prompt})
        page = response.content.decode()
        assert 'data-outcome="block"' in page
        assert f"“{shown}”" in page
        assert "sexual content" in page and PACKS["sexual"]["explanation"] in page
        assert "Not checked" not in page
    call_command("seed_demo")  # again: the published policy is kept as it is
    assert project.organization.policies.get().versions.count() == 1
    assert policy_baseline_adopt(organization=project.organization, user=None) is None


@pytest.mark.django_db
def test_without_a_published_policy_pages_say_that_nothing_is_checked(client, acme):
    client.force_login(acme.users["creator"])
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert "No published prompt policy." in page
    feedback = client.post(
        f"/projects/{acme.project.slug}/policy-check/", {"prompt": "a nude woman on a beach"}
    ).content.decode()
    assert "Not checked:" in feedback and "Allowed, unchecked" in feedback
    policy = policy_create(organization=acme.organization, user=acme.users["admin"])
    policy_pack_adopt(
        policy=policy, user=acme.users["admin"], pack="sexual", version=1, action="block"
    )
    policy_publish(policy=policy, user=acme.users["admin"])
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert "No published prompt policy." not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"pack": "../../etc/passwd", "version": 1, "action": "block"},
        {"pack": "sexual", "version": 10**20, "action": "block"},
        {"pack": "sexual", "version": 1, "action": "delete"},
        {"pack": "sexual", "drop": "on"},
        {"pack": "x" * 500, "version": "one"},
        {},
    ],
)
def test_bad_input_on_the_packs_page_is_a_400(client, acme, body):
    policy = policy_create(organization=acme.organization, user=acme.users["admin"])
    client.force_login(acme.users["admin"])
    response = client.post(f"/policies/{policy.pk}/packs/", body)
    assert response.status_code == 400
    policy.refresh_from_db()
    assert policy.draft.get("packs", []) == []


#: The shipped pack files, by content: a published policy version names a pack version, so a
#: shipped file never changes (a change is a new version file, added here).
SHIPPED = {
    "drugs/v1.json": "c341cbbfd0780117cdc1e031540e43d07308b1196f5f40eda807cf89ca698964",
    "hate/v1.json": "7d3779ed133f5ed1f140e9a23a54f52d322ec56626c8cc5a40fea40527633b93",
    "minors/v1.json": "947210894ad2d4975ab9ecca68a7aa4bdbbf14142ed9982d89ff32b7c097f27c",
    "public_figures/v1.json": "10452e727d260b8fb599f17923d4f6e424677c790cc093fcc79f11f861317dcc",
    "self_harm/v1.json": "097e89b46a5423f3988b26febc5086621a9e5a27e1d685039e0a970aecb578f0",
    "sexual/v1.json": "9a21e1f7233149cb4a74d2c58010360e50dd61258bc1dc7f94ed4f128a238198",
    "trademarks/v1.json": "983cf6dd225397a079a283389c4422346d90e9bd97bd92171609930c648735b8",
    "violence/v1.json": "4fe1b5f53b5c351369e710a021b9720fd653453d0f8f91cd7b7f7f17be5acbcb",
    "weapons/v1.json": "03c7e26ad10cbcabe3f00c5dcddee41792f7225d4aa69a76fd28ab5e3f75987a",
}


def test_shipped_pack_versions_never_change():
    shipped = {
        f"{path.parent.name}/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(packs.PACKS_DIR.glob("*/v*.json"))
    }
    assert shipped == SHIPPED
