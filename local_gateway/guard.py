"""Who may talk to the local gateway: its own Host names, its own origin, non-browser clients.

The gateway listens on the developer's machine while they browse the web. A web page can reach it
two ways, and each is closed here:

* **DNS rebinding**: a page on ``rebind.attacker.example`` whose name now resolves to 127.0.0.1
  talks to the gateway as a same-origin page. Its requests carry ``Host: rebind.attacker.example``,
  so every request (HTTP and WebSocket handshake) must name one of the gateway's own hosts:
  ``localhost``, ``127.0.0.1``, ``[::1]`` or the ``--host`` it was given, with or without a port
  (:meth:`Guard.host_allowed`); anything else gets 421 Misdirected Request.
* **Cross-site requests**: a page on another origin can send a ``no-cors`` POST (``text/plain``,
  no preflight) or open a WebSocket. Browsers mark both: ``Origin`` on POSTs and handshakes,
  ``Sec-Fetch-Site`` on every request. The APIs (Invoke, ``@connections``, console API) refuse a
  request whose ``Sec-Fetch-Site`` is ``cross-site``/``same-site`` or whose ``Origin`` is not the
  gateway's own (:meth:`Guard.cross_site_reason`); the WebSocket handshake accepts no ``Origin``
  (a non-browser client), the gateway's own origins and the configured ``allowed_origins``
  (:meth:`Guard.websocket_origin_allowed`). boto3, the AWS CLI and the JS SDK v3 in Node send
  neither header and keep working.
"""
from __future__ import annotations

import re
import socket
from typing import Iterable, Mapping

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""Host names every gateway answers to (without a port)."""
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # nosec B104 # compared with, never bound to
_HOST_HEADER = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?")
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?")
CROSS_SITE_FETCH = frozenset({"cross-site", "same-site"})


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased, default ports dropped; ValueError if not an origin."""
    match = _ORIGIN.fullmatch(origin.strip())
    if match is None:
        raise ValueError(f"{origin!r} is not an origin like http://localhost:3000 (scheme://host[:port], no path)")
    scheme, host, port = match["scheme"].lower(), match["host"].lower(), match["port"]
    if port is not None and int(port) == (443 if scheme == "https" else 80):
        port = None
    return f"{scheme}://{host}" + (f":{int(port)}" if port is not None else "")


class Guard:
    """The Host and Origin checks of one gateway.

    Args:
        host: the ``--host`` the gateway listens on; its name is accepted besides the loopback
            names (with a wildcard host, the machine's name and addresses are accepted too).
        allowed_origins: extra origins (``http://localhost:3000``) whose pages may open WebSocket
            connections; default none. The gateway's own origins are always allowed.
    """

    def __init__(self, host: str, allowed_origins: Iterable[str] = ()) -> None:
        names = set(LOOPBACK_HOSTS)
        if host in WILDCARD_HOSTS:
            names.update(self._machine_names())
        else:
            names.add(_bracketed(host.lower()))
        self.host_names = frozenset(names)
        self.allowed_origins = frozenset(normalize_origin(o) for o in allowed_origins)
        self.port = 0

    @staticmethod
    def _machine_names() -> set[str]:
        name = socket.gethostname()
        found = {name.lower()}
        try:
            found.update(_bracketed(a) for a in socket.gethostbyname_ex(name)[2])
        except OSError:
            pass
        return found

    def host_allowed(self, host_header: str | None) -> bool:
        """True when ``Host`` names this gateway (any port; a missing Host is not a browser's)."""
        if host_header is None:
            return True
        match = _HOST_HEADER.fullmatch(host_header.strip())
        return match is not None and match["name"].lower() in self.host_names

    def own_origin(self, origin: str) -> bool:
        """True for ``http://{one of our host names}:{our port}``."""
        try:
            normalized = normalize_origin(origin)
        except ValueError:
            return False
        return any(normalized == f"http://{name}:{self.port}" for name in self.host_names)

    def cross_site_reason(self, headers: Mapping[str, str]) -> str | None:
        """Why a request to an API is refused as coming from another site's page, or None."""
        fetch_site = headers.get("Sec-Fetch-Site", "").strip().lower()
        if fetch_site in CROSS_SITE_FETCH:
            return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
        origin = headers.get("Origin")
        if origin is not None and not self.own_origin(origin):
            return "cross-site request refused (Origin is not this gateway)"
        return None

    def websocket_origin_allowed(self, origin: str | None) -> bool:
        """A handshake without ``Origin`` (not a browser), from our own origin or an allowed one."""
        if origin is None:
            return True
        if self.own_origin(origin):
            return True
        try:
            return normalize_origin(origin) in self.allowed_origins
        except ValueError:
            return False
