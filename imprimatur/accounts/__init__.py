"""Logging in with a password: throttles per address and per username before any password
is checked, the lockout of a username after too many failures, and its audited unlock.

The HTML login (``views.LoginView``) and the API's token endpoint both go through
``services.password_login``, so they share the counters: a guess through either counts for
both. See README.md ("Logins") for the limits and their settings."""
