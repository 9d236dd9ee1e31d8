"""Settings for the test suite: the platform's own, with test state kept under var/test/.

Worker processes started by tests inherit DJANGO_SETTINGS_MODULE and IMPRIMATUR_VAR_DIR,
so they share the test database (SQLite file or PostgreSQL test database), broker folders
and media with the test process, and never touch a running `make run` platform's state.
"""

import os
from pathlib import Path

os.environ.setdefault(
    "IMPRIMATUR_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)

from imprimatur.settings import *  # noqa: F403

# Hashing demo passwords with PBKDF2 would dominate the suite's time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Live-server request threads must not keep connections open past the test: PostgreSQL
# refuses to drop a test database that still has sessions.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
