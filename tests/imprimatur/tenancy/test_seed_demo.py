import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from governance.audit.models import AuditEvent
from imprimatur.tenancy.models import BrandProject, Membership, Organization

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_acme_with_one_user_per_role_and_is_safe_to_rerun(settings, capsys):
    settings.IMPRIMATUR_DEMO_PASSWORD = "demo-pass-123"
    call_command("seed_demo")
    events = AuditEvent.objects.count()
    call_command("seed_demo")
    assert "Password: demo-pass-123" in capsys.readouterr().out

    acme = Organization.objects.get(slug="acme")
    assert Organization.objects.count() == 1
    assert BrandProject.objects.get(organization=acme).slug == "spring-campaign"
    roles = set(Membership.objects.filter(organization=acme).values_list("user__username", "role"))
    assert roles == {
        (role, role) for role in ("creator", "reviewer", "compliance", "admin", "auditor")
    }
    assert get_user_model().objects.count() == 5
    assert authenticate(username="creator", password="demo-pass-123") is not None
    assert AuditEvent.objects.count() == events  # the second run changed nothing


def test_seed_demo_generates_a_password_once(settings, capsys):
    settings.IMPRIMATUR_DEMO_PASSWORD = ""
    call_command("seed_demo")
    password = (settings.VAR_DIR / "demo_password").read_text().strip()
    call_command("seed_demo")
    output = capsys.readouterr().out
    assert output.count(f"Password: {password}") == 2
    assert authenticate(username="auditor", password=password) is not None
