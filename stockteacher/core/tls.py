"""One TLS context per process for every outgoing HTTP client.

httpx builds a fresh `ssl.SSLContext` for each client it creates, and loading the CA bundle
into it costs ~50 ms of CPU. The sources open a client per fetch (one per ticker per sweep), so
that load was the largest single CPU cost of collecting a ticker (issue #13's profile). An
`SSLContext` may be shared by clients, threads and event loops; the verification settings are
httpx's own defaults (certifi, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when `trust_env`).
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx

__all__ = ["tls_context"]


@cache
def tls_context(trust_env: bool = True) -> ssl.SSLContext:
    """httpx's default client context, made once per process (and per `trust_env`)."""
    return httpx.create_ssl_context(trust_env=trust_env)
