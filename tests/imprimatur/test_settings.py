"""Production settings pass Django's deployment checks; a missing SECRET_KEY is refused."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def manage(args, env_overrides, tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}
    }
    env.update({"IMPRIMATUR_VAR_DIR": str(tmp_path), **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_no_issues_with_production_settings(tmp_path):
    result = manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {
            "DEBUG": "0",
            "SECRET_KEY": "x7Hq2v9LmN4pR8sT1wY6zB3cF5gJ0kD2aE7hU9iO4lQ1nM6bV8cX3zS5dG",
            "ALLOWED_HOSTS": "imprimatur.example.com",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_debug_off_without_secret_key_is_refused(tmp_path):
    result = manage(["check"], {"DEBUG": "0", "ALLOWED_HOSTS": "x.example.com"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_debug_on_generates_a_secret_key_once(tmp_path):
    assert manage(["check"], {"DEBUG": "1"}, tmp_path).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert manage(["check"], {"DEBUG": "1"}, tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_openapi_schema_generates_and_validates_without_warnings(tmp_path):
    result = manage(
        ["spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")],
        {},
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    schema = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/projects/{slug}/requests/:" in schema
    assert "/api/v1/auth/token/:" in schema
