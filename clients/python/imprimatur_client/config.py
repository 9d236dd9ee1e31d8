"""Where the CLI finds the server and the token.

The server: ``--url``, else ``IMPRIMATUR_URL``, else the config file's ``url``, else
http://127.0.0.1:8000. The token: ``IMPRIMATUR_TOKEN``, else the config file's ``token``
(never a command-line argument: other users see those in ``ps``).

The config file is ``IMPRIMATUR_CONFIG``, else ``$XDG_CONFIG_HOME/imprimatur/config.toml``
(``~/.config/imprimatur/config.toml``): TOML with ``url`` and ``token``. ``imprimatur login``
writes it with permissions 0600; a token in a file that others may read is refused.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from imprimatur_client.client import DEFAULT_URL


class ConfigError(Exception):
    pass


def config_path() -> Path:
    if os.environ.get("IMPRIMATUR_CONFIG"):
        return Path(os.environ["IMPRIMATUR_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "imprimatur" / "config.toml"


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None
    token_source: str  # "IMPRIMATUR_TOKEN", the config file's path, or ""


def read_file(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"Cannot read {path}: {error}") from None
    if values.get("token") and os.name == "posix" and path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} holds a token but others may read it: run `chmod 600 {path}`.")
    return values


def settings(url: str | None = None) -> Settings:
    path = config_path()
    values = read_file(path)
    url = url or os.environ.get("IMPRIMATUR_URL") or values.get("url") or DEFAULT_URL
    if os.environ.get("IMPRIMATUR_TOKEN"):
        return Settings(url, os.environ["IMPRIMATUR_TOKEN"], "IMPRIMATUR_TOKEN")
    if values.get("token"):
        return Settings(url, str(values["token"]), str(path))
    return Settings(url, None, "")


def write_file(url: str, token: str) -> Path:
    """Save the server and token, readable by this user only (0600 from the start)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # json.dumps writes a string TOML reads back the same (both escape alike for these).
    text = f"url = {json.dumps(url)}\ntoken = {json.dumps(token)}\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)  # an older file may have had wider rights
    return path
