"""Running the `imprimatur` command against a live server."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

#: The real console script that `pip install ./clients/python` (make install-dev) installs.
IMPRIMATUR = Path(sys.executable).parent / "imprimatur"


def token_of(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


@pytest.fixture
def cli(live_server, tmp_path):
    """``cli(*args, token=…, input=…)``: run the console script against the live server
    with its own config file; the CompletedProcess (text)."""
    assert IMPRIMATUR.exists(), "imprimatur is not installed: run `make install-dev`."

    def run(
        *args,
        token: str | None = None,
        input: str | None = None,
        config="config.toml",
        timeout: float = 120,
    ):
        env = {key: value for key, value in os.environ.items() if not key.startswith("IMPRIMATUR_")}
        env |= {"IMPRIMATUR_URL": live_server.url, "IMPRIMATUR_CONFIG": str(tmp_path / config)}
        if token:
            env["IMPRIMATUR_TOKEN"] = token
        return subprocess.run(
            [str(IMPRIMATUR), *map(str, args)], env=env, input=input, capture_output=True,
            text=True, timeout=timeout, cwd=tmp_path,
        )  # fmt: skip

    return run
