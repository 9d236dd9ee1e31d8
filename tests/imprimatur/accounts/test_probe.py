"""The outside probe of issue 17, replayed: password guessing must be throttled.

(a) The token endpoint keyed its throttle on X-Forwarded-For, which any client sets: 25 of
25 attempts with a rotating header got through. (b) The HTML login had no throttle or
lockout at all: 60 wrong tries, then the right one logged in.
"""

from rest_framework.test import APIClient

from tests.imprimatur.tenancy.factories import PASSWORD


def test_token_guesses_with_a_rotating_forwarded_for_are_throttled(acme):
    api = APIClient()
    answers = [
        api.post(
            "/api/v1/auth/token/",
            {"username": "acme-creator", "password": f"guess-{attempt}"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}",
        ).status_code
        for attempt in range(25)
    ]
    checked = answers.count(400)  # the password was checked and was wrong
    assert checked <= 10, answers
    assert len(answers) - checked == answers.count(429) + answers.count(403), answers
    assert answers[-1] in (403, 429)


def test_sixty_wrong_html_logins_then_the_right_one_does_not_log_in(client, acme):
    for attempt in range(60):
        client.post("/accounts/login/", {"username": "acme-creator", "password": f"nope-{attempt}"})
    response = client.post("/accounts/login/", {"username": "acme-creator", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert response.status_code in (403, 429)
    assert "locked" in response.content.decode()
