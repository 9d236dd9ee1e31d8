"""Who sees and decides review tasks, read through ``imprimatur.tenancy.permissions``: a
role counts only in the organisation that gave it, and only the roles a review uses count
(superuser status gives no review role)."""

import pytest
from django.http import Http404

from governance.reviews import selectors
from governance.reviews.services import task_may_decide
from imprimatur.tenancy.models import Membership
from imprimatur.tenancy.permissions import user_roles_by_organization
from tests.governance.reviews.conftest import open_prompt_review, stage
from tests.imprimatur.tenancy.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_organisations(acme, globex):
    """A compliance stage and a reviewer stage in each organisation, and one person who is a
    reviewer at acme and a compliance officer at globex."""
    tasks = {}
    for tenant in (acme, globex):
        for role in ("compliance", "reviewer"):
            review = open_prompt_review(tenant, [stage(role.title(), role)])
            tasks[(tenant.organization.slug, role)] = review.tasks.get()
    person = UserFactory(username="both")
    Membership.objects.create(user=person, organization=acme.organization, role="reviewer")
    Membership.objects.create(user=person, organization=globex.organization, role="compliance")
    return person, tasks


def test_roles_by_organisation(acme, globex, two_organisations):
    person, _tasks = two_organisations
    Membership.objects.create(user=person, organization=acme.organization, role="creator")
    assert user_roles_by_organization(person) == {
        acme.organization.pk: {"reviewer", "creator"},
        globex.organization.pk: {"compliance"},
    }
    person.is_active = False
    assert user_roles_by_organization(person) == {}


def test_the_queue_holds_the_stages_of_my_role_in_each_organisation(two_organisations):
    person, tasks = two_organisations
    listed = set(selectors.task_list(user=person))
    assert listed == {tasks[("acme-org", "reviewer")], tasks[("globex-org", "compliance")]}
    assert selectors.task_waiting_count(user=person) == 2


def test_reviewers_compliance_and_admins_open_any_task_of_their_organisation(
    acme, globex, two_organisations
):
    person, tasks = two_organisations
    for task in tasks.values():  # a reviewer or compliance officer in both: sees all four
        assert selectors.task_get(user=person, pk=task.pk) == task
    for role in ("reviewer", "compliance", "admin"):
        for key, task in tasks.items():
            found = selectors.task_find(user=acme.users[role], pk=task.pk)
            assert (found == task) if key[0] == "acme-org" else found is None
    for role in ("creator", "auditor"):
        with pytest.raises(Http404):
            selectors.task_get(user=acme.users[role], pk=tasks[("acme-org", "reviewer")].pk)


def test_workflows_are_read_by_the_review_roles_and_edited_by_admins(acme, globex):
    assert list(selectors.workflow_projects(user=acme.users["reviewer"])) == [acme.project]
    for role in ("creator", "auditor"):
        assert not selectors.workflow_projects(user=acme.users[role]).exists()
    _project, can_edit = selectors.workflow_project_get(
        user=acme.users["admin"], slug="acme-campaign"
    )
    assert can_edit
    _project, can_edit = selectors.workflow_project_get(
        user=acme.users["compliance"], slug="acme-campaign"
    )
    assert not can_edit
    with pytest.raises(Http404):
        selectors.workflow_project_get(user=globex.users["admin"], slug="acme-campaign")


def test_a_role_in_another_organisation_does_not_decide(globex, two_organisations):
    person, tasks = two_organisations
    allowed, why = task_may_decide(task=tasks[("acme-org", "compliance")], user=person)
    assert not allowed and why == "This stage is decided by the compliance officers."
    assert task_may_decide(task=tasks[("globex-org", "compliance")], user=person) == (True, "")
    assert not selectors.is_admin(user=person, organization_id=globex.organization.pk)
    assert selectors.is_admin(user=globex.users["admin"], organization_id=globex.organization.pk)


def test_a_superuser_without_a_review_role_sees_no_task(two_organisations):
    _person, tasks = two_organisations
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert not selectors.task_list(user=root).exists()
    assert selectors.task_find(user=root, pk=tasks[("acme-org", "reviewer")].pk) is None
    assert not selectors.workflow_projects(user=root).exists()
