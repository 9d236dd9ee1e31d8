"""Replay issue 17's password-guessing probe against a real server and count what gets through.

It makes a fresh SQLite platform in a temporary folder (or uses ``--cache-url`` for Redis
counters), starts gunicorn with several worker processes (so the counts must be shared),
trusting 127.0.0.1 as the proxy in front, and plays a proxy: every request carries
``X-Forwarded-For: <forged by the client>, <the client's real address>``. Scenarios:

- token: 25 wrong passwords for one account at the token endpoint, the forged part rotating;
- html: 60 wrong passwords on the login page, then the right one;
- address: one real address guesses for ``--seconds`` across ever-new usernames;
- account: ever-new real addresses guess one account for ``--seconds``.

"checked" counts answers that show a password was checked (400 from the API, the form's
"correct username and password" message); the rest were refused before any check.
"""

import argparse
import concurrent.futures
import http.cookiejar
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"


def request(opener, url, data=None, forwarded="", headers=None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(
        url, data=body, headers={"X-Forwarded-For": forwarded, **(headers or {})}
    )
    try:
        with opener.open(req, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def token(base, username, password, forwarded):
    return request(urllib.request.build_opener(), f"{base}/api/v1/auth/token/",
                   {"username": username, "password": password}, forwarded)  # fmt: skip


def html(base, username, password, forwarded):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    request(opener, f"{base}/accounts/login/", forwarded=forwarded)
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    status, text = request(opener, f"{base}/accounts/login/",
                           {"username": username, "password": password,
                            "csrfmiddlewaretoken": csrf}, forwarded)  # fmt: skip
    logged_in = any(cookie.name == "sessionid" for cookie in jar)
    return status, text, logged_in


def checked_api(status):
    return status == 400


def checked_html(status, text):
    return status == 200 and "correct username and password" in text


def spray(seconds, make_attempt, threads=8):
    """Attempts from ``threads`` threads for ``seconds``: (attempts, checked)."""
    counter = itertools.count()
    stop = time.monotonic() + seconds

    def loop():
        attempts = checked = 0
        while time.monotonic() < stop:
            attempts += 1
            checked += make_attempt(next(counter))
        return attempts, checked

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda _: loop(), range(threads)))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache-url", default="", help="e.g. redis://127.0.0.1:6379/2 (default: database counters)"
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="length of the address and account sprays"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="login-probe-"))
    env = os.environ | {
        "IMPRIMATUR_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "imprimatur.settings",
        "DEBUG": "1", "IMPRIMATUR_TRUSTED_PROXIES": "127.0.0.1", "PORT": str(args.port),
        "WEB_CONCURRENCY": str(args.workers), "CACHE_URL": args.cache_url or "locmemcache://",
        "TOKEN_THROTTLE_RATE": "10000/min", "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=REPO, env=env, check=True)
    create = "from django.contrib.auth.models import User\n" + "".join(
        f"User.objects.create_user({name!r}, password={PASSWORD!r})\n"
        for name in ("victim-token", "victim-html", "victim-spray")
    )
    subprocess.run([*manage, "shell", "-c", create], cwd=REPO, env=env, check=True)
    if args.cache_url:
        clear = "from django.core.cache import cache; cache.clear()"
        subprocess.run([*manage, "shell", "-c", clear], cwd=REPO, env=env, check=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:imprimatur.gunicorn", "imprimatur.wsgi"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        results = {
            "counters": "redis" if args.cache_url else "database",
            "web processes": args.workers,
        }

        answers = [token(base, "victim-token", f"guess-{n}", f"203.0.113.{n}, 198.51.100.1")[0]
                   for n in range(25)]  # fmt: skip
        results["token: 25 guesses, forged header rotating"] = {
            "checked": answers.count(400),
            "429": answers.count(429),
            "403": answers.count(403),
        }

        checked = 0
        for n in range(60):
            status, text, _ = html(base, "victim-html", f"nope-{n}", f"203.0.113.{n}, 198.51.100.2")
            checked += checked_html(status, text)
        status, text, logged_in = html(base, "victim-html", PASSWORD, "198.51.100.2")
        results["html: 60 guesses, then the right password"] = {
            "checked": checked, "right password": status, "logged in": logged_in,
            "locked message": "This account is locked" in text}  # fmt: skip

        attempts, checked = spray(
            args.seconds,
            lambda n: checked_api(
                token(base, f"nobody-{n}", "wrong", f"203.0.113.{n % 250}, 198.51.100.3")[0]
            ),
        )
        results[f"address: one address, new usernames, {args.seconds:.0f} s"] = {
            "attempts": attempts,
            "checked": checked,
        }

        def other_address(n):
            real = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
            return checked_api(token(base, "victim-spray", f"guess-{n}", f"{real}")[0])

        attempts, checked = spray(args.seconds, other_address)
        results[f"account: one account, a new address each time, {args.seconds:.0f} s"] = {
            "attempts": attempts,
            "checked": checked,
        }
        print(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
