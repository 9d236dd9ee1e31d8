"""Atomic counters: in the database by default, in Redis when CACHE_URL names it; each
count is handed out once, also to concurrent threads and to separate processes."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from imprimatur.ratelimit import counters
from imprimatur.ratelimit.models import Counter
from tests.conftest import database_url_for_workers

REPO = Path(__file__).resolve().parents[3]
REDIS_FOR_TESTS = "redis://127.0.0.1:6379/2"


def redis_url() -> str:
    """CACHE_URL when it names Redis (CI), else the local Redis's db 2; skipped when none runs
    and CACHE_URL does not ask for it."""
    configured = os.environ.get("CACHE_URL", "")
    if configured.startswith("redis"):
        return configured
    import redis

    try:
        redis.Redis.from_url(REDIS_FOR_TESTS, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379 (CI sets CACHE_URL=redis://…)")
    return REDIS_FOR_TESTS


@pytest.fixture(params=["database", "redis"])
def backend(request, settings):
    """Each test once per place the counters can live."""
    if request.param == "redis":
        import environ

        settings.CACHES = {"default": environ.Env.cache_url_config(redis_url())}
        from django.core.cache import cache

        cache.clear()
    else:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert counters.uses_cache() == (request.param == "redis")
    return request.param


def test_hit_counts_release_takes_back_reset_starts_over(db, backend):
    window = counters.Window(600)
    assert [counters.hit("a", window) for _ in range(3)] == [1, 2, 3]
    assert counters.hit("b", window) == 1  # another name, its own count
    counters.release("a", window)
    assert counters.count("a", window) == 2
    counters.reset("a", window)
    assert counters.count("a", window) == 0
    assert counters.hit("a", window) == 1


def test_a_new_window_starts_from_zero(db, backend):
    first = counters.Window(60, now=6000.0)
    assert [counters.hit("a", first) for _ in range(2)] == [1, 2]
    assert first.remaining() == 60
    later = counters.Window(60, now=6075.0)
    assert counters.hit("a", later) == 1
    assert later.remaining() == 45
    if backend == "database":  # the ended window's row went when the new one came
        assert Counter.objects.count() == 1


def test_concurrent_threads_each_get_a_distinct_count(transactional_db, backend):
    window = counters.Window(600)
    results: list[int] = []
    lock = threading.Lock()

    def worker():
        try:
            mine = [counters.hit("shared", window) for _ in range(25)]
            with lock:
                results.extend(mine)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(1, 201))


SCRIPT = """
import django, json
django.setup()
from imprimatur.ratelimit import counters
window = counters.Window(600)
print(json.dumps([counters.hit("across", window) for _ in range(40)]))
"""


def test_separate_processes_each_get_a_distinct_count(transactional_db, backend):
    """What several web processes do: each its own connection, one shared count."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url_for_workers(),
        "CACHE_URL": redis_url() if backend == "redis" else "locmemcache://",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    import json

    results = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        results += json.loads(out.strip().splitlines()[-1])
    assert sorted(results) == list(range(1, 121))


def test_caches_that_cannot_count_atomically_leave_counting_to_the_database(settings):
    for backend in ("filebased.FileBasedCache", "db.DatabaseCache", "locmem.LocMemCache"):
        settings.CACHES = {"default": {"BACKEND": f"django.core.cache.backends.{backend}"}}
        assert not counters.uses_cache(), backend
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
    assert counters.uses_cache()
