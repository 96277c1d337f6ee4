"""The HTTP side of the backend's client: the bearer token, what each status means (retry,
refusal, a wrong URL), ``Retry-After``, the process's one TLS context, and which backend a URL
names (a spooled write's destination)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Generator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from pydantic import SecretStr

from voicefsm.errors import BackendMisdirected, BackendRejected, BackendUnavailable

_TLS_LOCK = threading.Lock()
_tls_context: ssl.SSLContext | None = None
MAX_RETRY_AFTER_S = 60.0
#: Statuses worth retrying. 401/403 are among them: the request is fine, the deployment's token
#: is not (yet); dead-lettering every write over a rotated token would lose the conversation.
RETRYABLE = frozenset({401, 403, 408, 425, 429, 500, 502, 503, 504})
#: Refusals of the request itself: its body is not JSON (400), too large (413), or not
#: acceptable as it is (422). Only these are final: the same request would be refused again.
#: Every other answer (404, 405, a redirect, 501…) says the URL is wrong, not the request.
REFUSALS = frozenset({400, 413, 422})


class BearerToken(httpx.Auth):
    """Adds ``Authorization: Bearer …``; its repr never shows the token."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "BearerToken('**********')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date), capped; None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def shown_url(url: httpx.URL) -> str:
    """``url`` as an operator may see it: no credentials, no query."""
    return str(url.copy_with(username=None, password=None, query=None, fragment=None))


def raise_for_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    status = response.status_code
    try:
        url: str | None = shown_url(response.request.url)
    except RuntimeError:  # a response built without a request (tests)
        url = None
    if status in REFUSALS:
        raise BackendRejected(f"backend refused the request ({status})", status=status, url=url)
    retry_after = retry_after_seconds(response)
    if status in (401, 403):
        message = f"backend refused the token ({status})"
    elif status in RETRYABLE or (status >= 500 and status != 501):
        # A server in trouble; 501 (not implemented) is about the URL, like 404 and 405.
        message = f"backend answered {status}"
    else:
        message = f"backend URL answered {status}: wrong endpoint"
        raise BackendMisdirected(message, status=status, retry_after=retry_after, url=url)
    raise BackendUnavailable(message, status=status, retry_after=retry_after, url=url)


#: Verifies certificates and hostnames, and trusts no CA: no TLS connection can succeed on it.
_TRUSTS_NOBODY = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def shared_tls_context() -> ssl.SSLContext:
    """One TLS context for every backend connection in this process.

    httpx builds a fresh one per client, loading the CA bundle each time; with OpenSSL 3 that
    is slow, and from several job threads at once it contends on OpenSSL's locks for seconds
    (measured here: sessions started minutes late under load). A client-side context is safe
    to share between clients and threads.
    """
    global _tls_context  # noqa: PLW0603 (a process-wide cache, created once under the lock)
    with _TLS_LOCK:
        if _tls_context is None:
            _tls_context = httpx.create_ssl_context()
        return _tls_context


def backend_http(base_url: str, **options: object) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for the backend at ``base_url``, on the shared TLS context.

    A plain-HTTP backend (``simulate``'s, a sidecar on loopback) gets a context that trusts no
    certificate instead: it never does TLS, and loading the CA bundle costs a process ~0.15 s
    of CPU; should a connection ever try TLS, it fails closed."""
    tls = shared_tls_context() if httpx.URL(base_url).scheme == "https" else _TRUSTS_NOBODY
    return httpx.AsyncClient(base_url=base_url, verify=tls, **options)  # type: ignore[arg-type]


def backend_destination(url: str | httpx.URL) -> str:
    """Which backend ``url`` names, as a spooled write records it: scheme, host, port and path,
    normalised (case, default port, trailing slash); never credentials, query or fragment."""
    parsed = httpx.URL(str(url))
    scheme = parsed.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    port = f":{parsed.port}" if parsed.port not in (None, default) else ""
    path = parsed.path.rstrip("/")
    return f"{scheme}://{parsed.host.lower()}{port}{path}"
