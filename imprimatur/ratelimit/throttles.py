"""DRF's scoped throttle on the real client address and an atomic counter.

DRF's own throttles take ``X-Forwarded-For`` from any client (``get_ident``) and keep a
history list in the cache with a read and a write back, so a rotating header or concurrent
requests slip past. This one counts under ``client_address`` in ``counters`` (settings:
``DEFAULT_THROTTLE_CLASSES``; a view sets ``throttle_scope``, its rate is
``DEFAULT_THROTTLE_RATES[scope]``)."""

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from imprimatur.ratelimit import counters
from imprimatur.ratelimit.addresses import address_bucket, client_address


class AddressRateThrottle(ScopedRateThrottle):
    def get_ident(self, request) -> str:
        return address_bucket(client_address(request))

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        # Read now, not when DRF was imported (settings overridden in tests take effect).
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.window = counters.Window(self.duration)
        name = f"throttle:{self.scope}:{self.get_ident(request)}"
        return counters.hit(name, self.window) <= self.num_requests

    def wait(self) -> float:
        return float(self.window.remaining())
