"""Rate limits shared by every process: the client's real address and atomic counters.

``addresses.client_address(request)`` is the one answer to "who is asking": the socket
peer, or, only when that peer is a trusted proxy (``IMPRIMATUR_TRUSTED_PROXIES``), the
first untrusted hop of ``X-Forwarded-For`` read from the right. ``counters.hit`` counts
atomically in Redis (or Memcached) when ``CACHE_URL`` names one, else in the database.
"""
