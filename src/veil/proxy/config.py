"""Settings of ``veil proxy`` (:class:`ProxyConfig`); every default lives here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from veil.errors import ConfigError

OUTPUT_FORMATS: tuple[str, ...] = ("png", "jpeg")
DEFAULT_PORT = 8787
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 25_000_000
#: Longest side sent upstream by default (OpenAI's API fits images in 2048x2048 on receipt).
DEFAULT_MAX_SIDE = 2048
UPSTREAM_AUTH_HEADERS: tuple[str, ...] = ("authorization", "api-key")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ProxyConfig:
    """How ``veil proxy`` listens, protects images and forwards requests.

    Attributes:
        anonymizer: anonymizer spec applied to every image (``blur:sigma=8``,
            ``faceblur``, ``pixelate:block=8`` or a trained model folder).
        upstream: base URL of the OpenAI-compatible service, usually ending in ``/v1``
            (``https://api.openai.com/v1``, ``http://127.0.0.1:11434/v1``). The proxy maps
            ``/v1/<path>`` to ``<upstream>/<path>``.
        host: interface to listen on; loopback by default. Any other host without an
            ``auth_token`` is served with a loud warning.
        port: port to listen on (0: a free one).
        auth_token: when set, clients must send ``Authorization: Bearer <token>`` (or
            ``api-key: <token>``); the token is consumed by the proxy and never forwarded.
        upstream_api_key: key the proxy sends upstream (read from the environment
            variable named by ``--upstream-api-key-env``). When None and no
            ``auth_token`` is set, the client's own ``Authorization``/``api-key`` header
            is passed through unchanged.
        upstream_auth_header: ``authorization`` (``Bearer KEY``) or ``api-key`` (Azure).
        max_body_bytes: largest request body accepted (413 above).
        max_image_pixels: largest image (width x height) decoded; checked from the
            header before any pixel is decompressed (decompression bombs).
        max_images: most images in one request.
        max_side: an image whose longer side is above this is scaled down to it (by area,
            aspect kept) before it is protected and sent; 0 sends every image at its size.
            2048 is where OpenAI's API scales images down to on receipt (and other services
            fit images smaller still), so a phone photo costs a quarter of the protection
            time and upload and the service sees what it would have seen; for a local model
            that reads more pixels, raise it or set 0.
        output_format: ``png`` (default, lossless: the upstream receives exactly the
            anonymizer's pixels) or ``jpeg`` (smaller uploads, lossy re-encoding).
        png_compression: zlib level 0-9 of the PNG re-encoding (1: fast, about 2-3x the
            size of a JPEG).
        jpeg_quality: quality 1-100 when ``output_format`` is ``jpeg``.
        allow_remote_images: fetch ``http(s)://`` image URLs (off: they are refused, the
            proxy never opens connections a client chooses).
        allowed_hosts: host names remote images may come from (exact, case-insensitive);
            required when ``allow_remote_images`` is on. Redirects are followed only to
            these hosts.
        max_remote_bytes: largest remote image downloaded.
        fetch_timeout: seconds for one remote image download.
        connect_timeout / upstream_timeout: seconds to connect to / wait for the upstream
            (generation can be slow: the read timeout is long).
        protected_cache_mb: memory, in MiB, for the protected re-encodings of recent images,
            keyed by a hash of the image bytes a client sent: a chat re-sends its images with
            every turn, and each is then protected once (the same output every turn, so fresh
            noise cannot be averaged out across turns either). Only protected images are kept,
            in this process's memory; 0 turns it off.
        fault_anonymizer_crash: testing switch: the anonymizer raises on every request
            image (after the start-up self-test), to check that the proxy fails closed.
    """

    anonymizer: str
    upstream: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    auth_token: str | None = field(default=None, repr=False)
    upstream_api_key: str | None = field(default=None, repr=False)
    upstream_auth_header: str = "authorization"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_images: int = 16
    max_side: int = DEFAULT_MAX_SIDE
    output_format: str = "png"
    png_compression: int = 1
    jpeg_quality: int = 95
    allow_remote_images: bool = False
    allowed_hosts: tuple[str, ...] = ()
    max_remote_bytes: int = 20 * 1024 * 1024
    fetch_timeout: float = 10.0
    connect_timeout: float = 10.0
    upstream_timeout: float = 600.0
    protected_cache_mb: float = 64.0
    fault_anonymizer_crash: bool = False

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"--upstream must be an http(s) base URL such as https://api.openai.com/v1 or "
                f"http://127.0.0.1:11434/v1, got {self.upstream!r}"
            )
        if parts.query or parts.fragment:
            raise ConfigError("--upstream must not carry a query or fragment; clients' query strings are passed on")
        object.__setattr__(self, "upstream", self.upstream.rstrip("/"))
        fmt = self.output_format.lower().replace("jpg", "jpeg")
        if fmt not in OUTPUT_FORMATS:
            raise ConfigError(f"output format {self.output_format!r} is not supported; choose png or jpeg")
        object.__setattr__(self, "output_format", fmt)
        if self.upstream_auth_header.lower() not in UPSTREAM_AUTH_HEADERS:
            raise ConfigError(f"upstream auth header must be one of {', '.join(UPSTREAM_AUTH_HEADERS)}")
        object.__setattr__(self, "upstream_auth_header", self.upstream_auth_header.lower())
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        for name in ("max_body_bytes", "max_image_pixels", "max_images", "max_remote_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_side < 0 or 0 < self.max_side < 64:
            raise ConfigError(f"max_side must be 0 (keep every size) or at least 64 px, got {self.max_side}")
        if not 0 <= self.png_compression <= 9:
            raise ConfigError(f"png compression must be in 0..9, got {self.png_compression}")
        if not self.protected_cache_mb >= 0:
            raise ConfigError(f"protected cache must be >= 0 MiB, got {self.protected_cache_mb}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg quality must be in 1..100, got {self.jpeg_quality}")
        for name in ("fetch_timeout", "connect_timeout", "upstream_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.auth_token is not None and not self.auth_token.strip():
            raise ConfigError("the proxy auth token is empty; set a non-empty token or leave it out")
        hosts = tuple(h.strip().lower().strip("[]") for h in self.allowed_hosts if h.strip())
        object.__setattr__(self, "allowed_hosts", hosts)
        if self.allow_remote_images and not hosts:
            raise ConfigError(
                "remote images are allowed but no host is: add --allowed-host HOST for each host images may "
                "come from (remote URLs let clients make the proxy open connections; there is no wildcard)"
            )
        if hosts and not self.allow_remote_images:
            raise ConfigError("--allowed-host only applies with --allow-remote-images; add it or drop the hosts")

    @property
    def upstream_display(self) -> str:
        """The upstream URL without any ``user:password@`` part, for messages and logs."""
        parts = urlsplit(self.upstream)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"

    @property
    def exposed(self) -> bool:
        """True when listening beyond loopback without an auth token (anyone on the network may use it)."""
        return not is_loopback_host(self.host) and self.auth_token is None

    def bind_warning(self) -> str | None:
        """The warning printed when the proxy is exposed (see :attr:`exposed`), else None."""
        if not self.exposed:
            return None
        return (
            f"WARNING: veil proxy listens on {self.host} WITHOUT an auth token: anyone who can reach this "
            "port can send requests through it, with your upstream key if one is configured. Use "
            "--host 127.0.0.1, or set --auth-token-env VAR (or --auth-token) so clients must authenticate."
        )
