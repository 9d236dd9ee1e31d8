import pytest

from tests.imprimatur.webhooks.receiver import Receiver


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def webhook_settings(settings):
    """Loopback allowed (the receiver runs there) and a short retry schedule: three tries,
    each due at once, so a test drives the retries without waiting."""
    settings.IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE = True
    settings.IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE = [0.0, 0.0, 0.0]
    settings.IMPRIMATUR_WEBHOOK_TIMEOUT_SECONDS = 5.0
    return settings
