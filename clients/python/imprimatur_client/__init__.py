"""A typed client and command-line interface for the Imprimatur API (HTTP only).

from imprimatur_client import Client
with Client("https://imprimatur.example", token) as client:
    request = client.wait(client.submit("spring-campaign", "a red star")["id"])
"""

__version__ = "0.1.0"

from imprimatur_client.client import (
    AuthError,
    Client,
    Conflict,
    ImprimaturError,
    Invalid,
    NotFound,
    ServerError,
)

__all__ = [
    "AuthError",
    "Client",
    "Conflict",
    "ImprimaturError",
    "Invalid",
    "NotFound",
    "ServerError",
    "__version__",
]
