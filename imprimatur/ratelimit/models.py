"""The counters' table, used when the cache cannot count atomically across processes."""

from django.db import models


class Counter(models.Model):
    """One counter of one fixed window (the key names the window); gone once it expires."""

    key = models.CharField(max_length=200, primary_key=True)
    count = models.IntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
