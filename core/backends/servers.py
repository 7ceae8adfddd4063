"""Several OpenAI-compatible servers (e.g. `vllm serve` on each GPU machine) behind one client.

Each request goes to the least busy server that is up, at most `concurrency` requests in flight
per server. A server that fails (connection refused or lost, a timeout, HTTP 5xx or 429) is set
aside for a while and the request is tried again on another at once; only when every server has
failed does a retry wait (exponential back-off), so one lost machine slows a run instead of
ending it. A request is retried whole: a reply that never came is asked for again, and a reply
that came is never asked for twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import ModelError

log = logging.getLogger(__name__)

# How long a failed server is passed over before it is tried again.
COOLDOWN_S = 30.0


def server_urls(text: str) -> list[str]:
    """The servers in GRAM_OPENAI_BASE_URL: one URL, or several separated by commas or spaces."""
    urls = [u.strip().rstrip("/") for u in text.replace(",", " ").split()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ModelError(f"'{url}' is not a server URL (http://host:port)")
    if not urls:
        raise ModelError("no server URL given")
    return list(dict.fromkeys(urls))


@dataclass
class Server:
    url: str
    client: httpx.Client
    slots: threading.Semaphore
    in_flight: int = 0
    down_until: float = 0.0
    failures: int = 0
    served: int = 0


class ServerPool:
    def __init__(
        self, urls: Sequence[str], *, headers: dict[str, str], timeout: float, concurrency: int, retries: int
    ) -> None:
        self.servers = [
            Server(url, httpx.Client(base_url=url, headers=headers, timeout=timeout), threading.Semaphore(concurrency))
            for url in urls
        ]
        self.concurrency, self.retries = concurrency, retries
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """Requests that may be in flight at once, over all servers."""
        return self.concurrency * len(self.servers)

    def _take(self) -> Server:
        """The least busy server that is up (or, if none is, the one back soonest), its count raised."""
        with self._lock:
            now = time.monotonic()
            up = [s for s in self.servers if s.down_until <= now]
            server = min(up, key=lambda s: s.in_flight) if up else min(self.servers, key=lambda s: s.down_until)
            server.in_flight += 1
            return server

    def _release(self, server: Server, *, ok: bool) -> None:
        with self._lock:
            server.in_flight -= 1
            if ok:
                server.served += 1
            else:
                self._mark_down(server)

    def _mark_down(self, server: Server) -> None:
        """Pass `server` over for COOLDOWN_S (the caller holds the lock)."""
        server.failures += 1
        server.down_until = time.monotonic() + COOLDOWN_S

    def _all_down(self) -> bool:
        with self._lock:
            now = time.monotonic()
            return all(s.down_until > now for s in self.servers)

    def request(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST `payload` (GET without one) to `path` on some server; ModelError once every try failed.
        Each server gets a try before any waits: `retries` counts the tries beyond that."""
        problems: list[str] = []
        for attempt in range(self.retries + len(self.servers)):
            server = self._take()
            ok = False
            try:
                with server.slots:
                    response = (
                        server.client.post(path, json=payload) if payload is not None else server.client.get(path)
                    )
                if response.status_code < 500 and response.status_code != 429:
                    ok = True  # the server answered; a 4xx is the request's fault, not the server's
                    response.raise_for_status()
                    return response.json()
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
            except httpx.HTTPStatusError as error:
                raise ModelError(
                    f"{server.url}{path}: {error.response.status_code} {error.response.text[:300]}"
                ) from None
            finally:
                self._release(server, ok=ok)
            problems.append(f"{server.url}: {problem}")
            log.warning("%s%s failed (%s); trying again", server.url, path, problem)
            if attempt + 1 < self.retries + len(self.servers) and self._all_down():
                time.sleep(min(2 ** len(problems) / 2, 30))
        tries = self.retries + len(self.servers)
        raise ModelError(f"{path} failed after {tries} tries: {'; '.join(problems[-3:])}")

    def each(self, path: str) -> list[tuple[str, dict[str, Any] | None]]:
        """GET `path` from every server: its reply, or None where it is down (said in the log)."""
        replies: list[tuple[str, dict[str, Any] | None]] = []
        for server in self.servers:
            try:
                response = server.client.get(path)
                response.raise_for_status()
                replies.append((server.url, response.json()))
            except httpx.HTTPError as error:
                log.warning("%s%s: %s; carrying on with the other servers", server.url, path, error)
                with self._lock:
                    self._mark_down(server)
                replies.append((server.url, None))
        return replies

    def close(self) -> None:
        for server in self.servers:
            server.client.close()
