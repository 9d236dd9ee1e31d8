"""Two first sign-ins of the same subject at once (two tabs, a double click on the
provider's button): both end signed in as one user with one link, never a 500."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from imprimatur.identity.models import IdentityLink
from imprimatur.identity.services import sso_sign_in

User = get_user_model()

CLAIMS = {
    "sub": "bob-sub",
    "email": "bob@acme.example",
    "email_verified": True,
    "preferred_username": "bob",
    "groups": ["design"],
}


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_sign_ins_make_one_user(acme, acme_sso):
    rounds = 3
    for round_number in range(rounds):
        claims = {
            **CLAIMS,
            "sub": f"bob-{round_number}",
            "preferred_username": f"bob{round_number}",
        }
        barrier = threading.Barrier(2)
        results, errors = [], []

        def sign_in(claims=claims, barrier=barrier, results=results, errors=errors):
            try:
                barrier.wait(timeout=10)
                results.append(sso_sign_in(sso=acme_sso, claims=claims).user.pk)
            except Exception as error:  # the assertion below names it
                errors.append(repr(error))
            finally:
                connection.close()

        threads = [threading.Thread(target=sign_in) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        assert len(set(results)) == 1, results
        assert IdentityLink.objects.filter(subject=claims["sub"]).count() == 1
        assert User.objects.filter(email="bob@acme.example").count() == 1
        User.objects.filter(email="bob@acme.example").delete()
