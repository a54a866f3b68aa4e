"""Our own HTTP fetch for feeds: timeout, byte cap, conditional requests, back-off, politeness.

feedparser has no network timeout, so it never fetches: we fetch here and hand it bytes.
Every request to one host goes through that host's `HostLimiter` (arXiv asks for one
request every 3 seconds and one connection at a time). 429 and 503 are retried a bounded
number of times, honouring Retry-After; a wait longer than `max_retry_after_s` is not
slept through but reported as `RateLimited`, so a pull never stalls for an hour.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from assistant.errors import ConnectorError, RateLimited

log = logging.getLogger(__name__)

USER_AGENT = "purposeful-assistant/0.1 (personal feed reader; one request per 3 s)"
RETRY_STATUSES = (429, 503)


@dataclass(frozen=True)
class Validators:
    """Cache validators of the last good response, sent back as conditional headers."""

    etag: str = ""
    last_modified: str = ""

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out

    def to_dict(self) -> dict[str, str]:
        return {"etag": self.etag, "last_modified": self.last_modified}

    @classmethod
    def from_dict(cls, data: object) -> Validators:
        if not isinstance(data, Mapping):
            return cls()
        return cls(
            etag=str(data.get("etag") or ""), last_modified=str(data.get("last_modified") or "")
        )


@dataclass(frozen=True)
class FetchResult:
    """A finished fetch: the body (empty on 304) and the validators to store."""

    url: str
    status: int
    content: bytes
    validators: Validators
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class HostLimiter:
    """One connection at a time to a host, and at least `min_interval_s` between requests."""

    min_interval_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_end: float = field(default=float("-inf"), repr=False)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold the host for one request; the interval counts from the previous request's end."""
        with self._lock:
            wait = self._last_end + self.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                yield
            finally:
                self._last_end = time.monotonic()


_LIMITERS: dict[str, HostLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(url: str, min_interval_s: float) -> HostLimiter:
    """The process-wide limiter of the URL's host (shared by every client in this process)."""
    host = _host_key(url)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(host)
        if limiter is None:
            limiter = _LIMITERS[host] = HostLimiter(min_interval_s)
        else:
            limiter.min_interval_s = min_interval_s  # the latest configuration wins
        return limiter


def _host_key(url: str) -> str:
    # rss.arxiv.org and export.arxiv.org are one service with one rate limit
    parts = urlsplit(url)
    hostname = (parts.hostname or "").lower()
    if hostname == "arxiv.org" or hostname.endswith(".arxiv.org"):
        return "arxiv.org"
    return parts.netloc.lower()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass
class Fetcher:
    """Fetches URLs with the feed rules; give it an httpx.Client to reuse connections or in tests."""

    timeout_s: float = 30.0
    max_bytes: int = 20_000_000
    retries: int = 3
    backoff_s: float = 2.0
    max_retry_after_s: float = 120.0
    min_interval_s: float = 0.0
    client: httpx.Client | None = None
    sleep: Callable[[float], None] = time.sleep

    def fetch(self, url: str, validators: Validators | None = None) -> FetchResult:
        """GET `url`; 304 gives an empty body and the old validators. Raises ConnectorError."""
        validators = validators or Validators()
        limiter = limiter_for(url, self.min_interval_s)
        attempt = 0
        while True:
            attempt += 1
            try:
                with limiter.slot():
                    result = self._once(url, validators, attempt)
            except _Retry as retry:
                if attempt > self.retries:
                    raise retry.final(url, attempt) from None
                delay = retry.delay if retry.delay is not None else self._backoff(attempt)
                if delay > self.max_retry_after_s:
                    raise RateLimited(
                        f"{url} asks us to wait {delay:.0f} s (HTTP {retry.status}); "
                        "the next scheduled pull will try again",
                        retry_after=delay,
                    ) from None
                log.info(
                    "%s: %s, retry %d/%d in %.1f s", url, retry.reason, attempt, self.retries, delay
                )
                self.sleep(delay)
                continue
            return result

    def _backoff(self, attempt: int) -> float:
        # exponential with a little jitter so several feeds do not retry in lockstep
        base: float = self.backoff_s * (2 ** (attempt - 1))
        return base * (1.0 + 0.1 * random.random())

    def _once(self, url: str, validators: Validators, attempt: int) -> FetchResult:
        headers = {
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "gzip, deflate",
            **validators.headers(),
        }
        timeout = httpx.Timeout(self.timeout_s)
        deadline = (
            time.monotonic() + 2 * self.timeout_s
        )  # a server dripping bytes cannot hold us forever
        client = self.client or httpx.Client(follow_redirects=True)
        try:
            with client.stream("GET", url, headers=headers, timeout=timeout) as response:
                status = response.status_code
                if status in RETRY_STATUSES:
                    delay = parse_retry_after(response.headers.get("Retry-After"))
                    raise _Retry(status, delay, f"HTTP {status}")
                if status == 304:
                    return FetchResult(url, 304, b"", validators, attempt)
                if status >= 400:
                    raise ConnectorError(_status_message(url, status))
                body = self._read_capped(url, response, deadline)
                new = Validators(
                    etag=response.headers.get("ETag", ""),
                    last_modified=response.headers.get("Last-Modified", ""),
                )
                return FetchResult(str(response.url), status, body, new, attempt)
        except httpx.TimeoutException:
            raise ConnectorError(
                f"{url} did not answer within {self.timeout_s:g} s; the server may be down "
                "(raise feeds.timeout_s if it is just slow)"
            ) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise _Retry(0, None, f"connection failed ({exc.__class__.__name__}: {exc})") from None
        except httpx.DecodingError as exc:
            raise ConnectorError(f"{url} sent a body that cannot be decompressed: {exc}") from None
        except httpx.HTTPError as exc:
            raise ConnectorError(f"{url} failed: {exc.__class__.__name__}: {exc}") from None
        finally:
            if self.client is None:
                client.close()

    def _read_capped(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ConnectorError(_too_big(url, self.max_bytes))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:  # counts decompressed bytes, so a gzip bomb stops here too
                raise ConnectorError(_too_big(url, self.max_bytes))
            if time.monotonic() > deadline:
                raise ConnectorError(
                    f"{url} is sending too slowly (over {2 * self.timeout_s:g} s); giving up on it for now"
                )
            chunks.append(chunk)
        return b"".join(chunks)


class _Retry(Exception):
    """An attempt that may be retried (429, 503, a dropped connection)."""

    def __init__(self, status: int, delay: float | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.delay = delay
        self.reason = reason

    def final(self, url: str, attempts: int) -> ConnectorError:
        if self.status == 429:
            return RateLimited(
                f"{url} kept answering 429 Too Many Requests after {attempts} attempts; "
                "the next scheduled pull will try again (or raise feeds.arxiv_min_interval_s)",
                retry_after=self.delay,
            )
        return ConnectorError(
            f"{url}: {self.reason} after {attempts} attempts; will retry on the next pull"
        )


def _too_big(url: str, cap: int) -> str:
    return f"{url} sent more than {cap} bytes; refused (raise feeds.max_bytes if the feed is genuinely that large)"


def _status_message(url: str, status: int) -> str:
    if status == 404:
        return f"{url} was not found (HTTP 404); check the feed URL or category in config"
    if status in (401, 403):
        return f"{url} refused access (HTTP {status}); check the URL and any proxy"
    return f"{url} answered HTTP {status}; will retry on the next pull"
