"""Atomic counters over fixed windows, shared by every process of the platform.

Where they count: in the cache when ``CACHE_URL`` names Redis (or Memcached), whose
increment is one atomic command on the server; otherwise in the database, whose upsert
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``) is one atomic statement on PostgreSQL and
SQLite alike. The embedded default (no Redis) therefore counts correctly however many web
processes run: a local-memory cache counts per process, and Django's file and database
caches read and write back (two requests would both read 4 and both write 5).

A counter's key names its window (``key@<window number>``), so it starts from zero when the
window ends; a window is aligned on multiples of its length (a limit of N per window lets at
most 2N through around a boundary).
"""

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache
from django.db import connections, router

from imprimatur.ratelimit.models import Counter

# Cache backends whose incr is one atomic command on a server that every process shares.
ATOMIC_CACHES = {
    "django.core.cache.backends.redis.RedisCache",
    "django_redis.cache.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
}


@dataclass(frozen=True)
class Window:
    """A fixed window ``seconds`` long; ``now`` (epoch seconds) pins it, for tests."""

    seconds: int
    now: float | None = None

    @property
    def _now(self) -> float:
        return time.time() if self.now is None else self.now

    @property
    def number(self) -> int:
        return int(self._now // self.seconds)

    @property
    def ends_at(self) -> float:
        return (self.number + 1) * self.seconds

    def remaining(self) -> int:
        """Whole seconds until the window ends (at least 1): a Retry-After."""
        return max(1, int(self.ends_at - self._now + 0.999))


def uses_cache() -> bool:
    """Whether counters go to the cache (Redis, Memcached) rather than the database."""
    from django.conf import settings

    return settings.CACHES["default"]["BACKEND"] in ATOMIC_CACHES


def _key(name: str, window: Window) -> str:
    # Hashed: any name (a username, an address) makes a short key every cache accepts.
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return f"ratelimit:{digest}@{window.seconds}:{window.number}"


def hit(name: str, window: Window) -> int:
    """Count one more under ``name`` in this window; the count, this one included."""
    key = _key(name, window)
    if uses_cache():
        # Kept a minute past the window's end: the key is never read after it.
        cache.add(key, 0, timeout=int(window.ends_at - window._now) + 60)
        try:
            return cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.add(key, 1, timeout=int(window.ends_at - window._now) + 60)
            return 1
    expires = datetime.fromtimestamp(window.ends_at, tz=UTC)
    connection = connections[router.db_for_write(Counter)]
    table = connection.ops.quote_name(Counter._meta.db_table)
    key_column, count_column, expires_column = (
        connection.ops.quote_name(name) for name in ("key", "count", "expires_at")
    )
    with connection.cursor() as cursor:
        # bandit: table and column names quoted by the backend from the model; values are
        # parameters.
        cursor.execute(
            f"INSERT INTO {table} ({key_column}, {count_column}, {expires_column}) "  # nosec B608
            f"VALUES (%s, 1, %s) ON CONFLICT ({key_column}) DO UPDATE "
            f"SET {count_column} = {table}.{count_column} + 1 RETURNING {count_column}",
            [key, expires],
        )
        count = cursor.fetchone()[0]
    if count == 1:  # a new window's counter: the ended ones go
        Counter.objects.filter(expires_at__lt=datetime.fromtimestamp(window._now, tz=UTC)).delete()
    return count


def release(name: str, window: Window) -> None:
    """Take back one count of ``name`` in this window (an attempt that turned out fine)."""
    key = _key(name, window)
    if uses_cache():
        try:
            if cache.decr(key) < 0:
                cache.incr(key)
        except ValueError:  # the window ended meanwhile
            pass
        return
    from django.db.models import F

    Counter.objects.filter(key=key, count__gt=0).update(count=F("count") - 1)


def reset(name: str, window: Window) -> None:
    """Start ``name`` from zero in this window."""
    key = _key(name, window)
    if uses_cache():
        cache.delete(key)
    else:
        Counter.objects.filter(key=key).delete()


def count(name: str, window: Window) -> int:
    """The count of ``name`` in this window, without counting."""
    key = _key(name, window)
    if uses_cache():
        return int(cache.get(key, 0))
    row = Counter.objects.filter(key=key).values_list("count", flat=True).first()
    return row or 0
