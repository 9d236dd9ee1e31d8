"""Navigation by role: each entry names the roles that see it (None: every signed-in user)."""

from django.urls import reverse

from governance.reviews.selectors import task_waiting_count, unread_count
from imprimatur.tenancy.permissions import Role, user_roles_anywhere

NAVIGATION = [
    ("Dashboard", "web:dashboard", None),
    ("Projects", "web:projects", None),
    ("Policies", "policies:list", None),
    ("Reviews", "reviews:queue", {Role.REVIEWER, Role.COMPLIANCE, Role.ADMIN}),
    ("Inbox", "reviews:inbox", None),
    ("Verify", "jobs:verify", None),
    ("Audit", "audit:list", {Role.AUDITOR, Role.ADMIN}),
    ("Reports", "audit:report", {Role.AUDITOR, Role.ADMIN}),
    ("Models", "jobs:models", {Role.ADMIN}),
    ("Members", "web:members", {Role.ADMIN}),
    ("API docs", "api-docs", None),
    ("Settings", "web:settings", None),
]


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"navigation": [], "user_roles": []}
    roles = user_roles_anywhere(user)
    entries = [
        {"label": label, "url": reverse(url_name), "active": request.path == reverse(url_name)}
        for label, url_name, allowed in NAVIGATION
        if allowed is None or roles & allowed
    ]
    for entry in entries:
        if entry["url"] == reverse("reviews:queue"):
            # What waits for me, in the navigation (issue 8).
            entry["count"] = task_waiting_count(user=user)
            entry["count_label"] = "waiting"
        elif entry["url"] == reverse("reviews:inbox"):
            entry["count"] = unread_count(user=user)
            entry["count_label"] = "unread"
    if user.is_staff:
        entries.append({"label": "Admin", "url": reverse("admin:index"), "active": False})
    return {
        "navigation": entries,
        "user_roles": [label for value, label in Role.choices if value in roles],
    }
