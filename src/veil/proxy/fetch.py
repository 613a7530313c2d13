"""Opt-in download of remote images (``http(s)://`` image URLs) for the proxy, with limits.

Off by default: a proxy that fetches any URL a client names can be made to reach hosts
on the proxy's own network (server-side request forgery). When enabled, only the hosts
on the allow-list are contacted, redirects are followed (at most ``MAX_REDIRECTS``) only
while they stay on allowed hosts, the download stops at ``max_bytes``, the reply must be
an image type, URLs with credentials are refused, and proxy settings from the
environment are ignored. The bytes then go through the same decoding and anonymization
as inline images.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin, urlsplit

import httpx

from veil.proxy.config import ProxyConfig
from veil.proxy.errors import ProxyRefusal

log = logging.getLogger("veil.proxy")

MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class RemoteImageFetcher:
    """``fetcher(url, where) -> bytes`` for allow-listed hosts; thread-safe (one pooled client).

    Raises (from ``__call__``):
        ProxyRefusal: the host is not allowed, the URL carries credentials, a redirect
            leaves the allowed hosts, the reply is not a 200 image, it is too large, or
            the download fails.
    """

    def __init__(self, config: ProxyConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.allowed = frozenset(config.allowed_hosts)
        self.max_bytes = config.max_remote_bytes
        self._client = httpx.Client(
            timeout=httpx.Timeout(config.fetch_timeout), follow_redirects=False, trust_env=False,
            headers={"accept": "image/png,image/jpeg,image/webp,image/gif"}, transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def _check(self, url: str, where: str) -> None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise ProxyRefusal(f"{where}: only http(s) image URLs can be fetched", "remote_image_refused", where)
        if parts.username is not None or parts.password is not None:
            raise ProxyRefusal(f"{where}: image URLs with credentials are refused", "remote_image_refused", where)
        if host not in self.allowed:
            raise ProxyRefusal(
                f"{where}: host {host[:80]!r} is not on the proxy's allow-list for remote images; send the image "
                "inline as a data URL, or add the host with --allowed-host", "remote_image_refused", where)

    def __call__(self, url: str, where: str) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            self._check(url, where)
            try:
                with self._client.stream("GET", url) as resp:
                    if resp.status_code in REDIRECT_STATUSES and "location" in resp.headers:
                        url = urljoin(url, resp.headers["location"])
                        continue
                    return self._read(resp, where)
            except httpx.HTTPError as e:
                log.warning("remote image download failed for %s: %s", where, type(e).__name__)
                raise ProxyRefusal(f"{where}: the remote image could not be downloaded ({type(e).__name__})",
                                   "remote_image_unavailable", where) from None
        raise ProxyRefusal(f"{where}: too many redirects (more than {MAX_REDIRECTS})", "remote_image_refused", where)

    def _read(self, resp: httpx.Response, where: str) -> bytes:
        if resp.status_code != 200:
            raise ProxyRefusal(f"{where}: the remote image URL answered HTTP {resp.status_code}",
                               "remote_image_unavailable", where)
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if not ctype.startswith("image/") or "svg" in ctype:
            raise ProxyRefusal(f"{where}: the remote URL is not a raster image (content type {ctype[:40]!r})",
                               "unsupported_image_type", where)
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(where)
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large(where)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, where: str) -> ProxyRefusal:
        return ProxyRefusal(f"{where}: the remote image is larger than {self.max_bytes} bytes",
                            "image_too_large", where, status=413)
