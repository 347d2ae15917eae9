"""Who may do what: the admin token, read access, and agent tokens (docs/security.md).

Three kinds of credentials, all bearer tokens compared in constant time (`hmac.compare_digest`):

* the **admin token** (one): every mutating REST request (any method but GET/HEAD/OPTIONS)
  needs it; it also passes every read check and may register any probe. Sources, first wins:
  the ``admin_token`` config key (TOML or ``UNIVERSED_ADMIN_TOKEN``), else the
  file ``admin.token`` in the state directory, else a new token is generated with
  `secrets.token_urlsafe` and written there (mode 0600). `resolve_admin_token` refuses a
  non-loopback listen address when the operator has no durable way to know the token (neither
  configured nor in a configured state directory).
* an optional **read token**: with ``auth_read = "token"``, read-only endpoints, the dashboard
  page and ``/ws/dashboard`` need the read token or the admin token.
* **agent tokens** (``auth_agents = "token"``): each names the probes and lineages (a probe
  and all its descendants) it controls; registering anything else is refused with an error frame.
  ``auth_agents = "auto"`` (the default) means open on a loopback address ("anyone may register
  anything", agent-protocol.md) and tokens everywhere else.

Where a token is read: ``Authorization: Bearer <token>``, else the ``token`` query parameter (for
browsers and WebSocket clients that cannot set headers), else (agents only) a ``"token"`` field of
the register message. This module does no I/O besides the token file; the gateway and the REST
app call `Auth.check_request` and `Auth.agent_grant`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import attrs
import orjson

from ..core.grants import (
    MIN_TOKEN_LENGTH,
    AgentGrant,
    AuthConfigError,
    is_loopback,
    parse_agent_tokens,
)
from .limits import KeyedRateLimiter

__all__ = [
    "ADMIN_TOKEN_FILE",
    "AgentGrant",
    "Auth",
    "AuthConfigError",
    "Denied",
    "bearer_token",
    "error_body",
    "install_rest_guard",
    "is_loopback",
    "parse_agent_tokens",
    "resolve_admin_token",
    "split_register_token",
]

log = logging.getLogger(__name__)
ADMIN_TOKEN_FILE = "admin.token"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@attrs.frozen
class Denied:
    """Why a request is refused: HTTP status (401/403), a stable code and a message."""

    status: int
    code: str
    message: str


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def bearer_token(headers: Mapping[str, str], query: str = "") -> str | None:
    """The token of a request: ``Authorization: Bearer`` first, then ``?token=``.

    Args:
        headers: request headers with lower-case names.
        query: the raw query string (after ``?``).
    """
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if query and "token=" in query:
        values = parse_qs(query, keep_blank_values=False).get("token")
        if values:
            return values[0]
    return None


# ------------------------------------------------------------------------------ admin token


@attrs.frozen
class AdminToken:
    value: str
    source: Literal["config", "file", "generated"]
    path: Path | None = None


def resolve_admin_token(
    configured: str, state_dir: Path, *, host: str, durable_state_dir: bool
) -> AdminToken:
    """The admin token, from the config, the state directory's ``admin.token``, or generated.

    Args:
        configured: the ``admin_token`` config value ("" = none given).
        state_dir: the daemon's state directory (exists).
        host: the listen address.
        durable_state_dir: False when ``state_dir`` is a throwaway temporary directory.

    Raises:
        AuthConfigError: a non-loopback ``host`` and no token the operator can know (none
            configured and no configured state directory), or a token file that is unreadable
            or too short.
    """
    if configured:
        if len(configured) < MIN_TOKEN_LENGTH:
            raise AuthConfigError(
                f"admin_token: use at least {MIN_TOKEN_LENGTH} characters "
                f"(got {len(configured)}); e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        return AdminToken(configured, "config")
    path = state_dir / ADMIN_TOKEN_FILE
    if path.exists():
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise AuthConfigError(f"admin token file {path}: {exc.strerror}") from None
        if len(value) < MIN_TOKEN_LENGTH:
            raise AuthConfigError(
                f"admin token file {path}: the token must have at least "
                f"{MIN_TOKEN_LENGTH} characters"
            )
        return AdminToken(value, "file", path)
    if not durable_state_dir and not is_loopback(host):
        raise AuthConfigError(
            f"refusing to listen on {host!r} (not a loopback address) without an admin token: "
            "set admin_token (or UNIVERSED_ADMIN_TOKEN) or a state_dir, where "
            f"{ADMIN_TOKEN_FILE} is generated on first start"
        )
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    log.warning("generated an admin token in %s (mode 0600)", path)
    return AdminToken(value, "generated", path)


# ------------------------------------------------------------------------------ agent tokens


@attrs.frozen
class _TokenEntry:
    digest: bytes  # sha256 of the token: compare digests, never store more than needed
    grant: AgentGrant


# ------------------------------------------------------------------------------ the policy


class Auth:
    """The access policy of one daemon (see the module docstring).

    Args:
        admin_token: the resolved admin token.
        admin: ``"token"`` (mutating requests need the admin token) or ``"open"`` (anyone on a
            loopback address may mutate: local development and tests only; refused elsewhere).
        read: ``"open"`` or ``"token"`` (reads need the read or admin token).
        read_token: optional token for read-only access ("" = only the admin token).
        agents: ``"open"``, ``"token"`` or ``"auto"`` (open on loopback ``host`` only).
        agent_tokens: the ``agent_tokens`` config table (see `parse_agent_tokens`).
        host: the listen address (for ``"auto"``).
    """

    def __init__(
        self,
        admin_token: str,
        *,
        admin: str = "token",
        read: str = "open",
        read_token: str = "",
        agents: str = "auto",
        agent_tokens: Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if admin not in ("open", "token"):
            raise AuthConfigError(f"auth_admin must be token or open, got {admin!r}")
        if admin == "open" and not is_loopback(host):
            raise AuthConfigError(
                f"auth_admin = open is only allowed on a loopback address, not {host!r}"
            )
        if read not in ("open", "token"):
            raise AuthConfigError(f"auth_read must be open or token, got {read!r}")
        if agents not in ("open", "token", "auto"):
            raise AuthConfigError(f"auth_agents must be open, token or auto, got {agents!r}")
        if not admin_token:
            raise AuthConfigError("an admin token is required")
        self.admin_token = admin_token
        self.admin_open = admin == "open"
        self.read_open = read == "open"
        self.read_token = read_token
        self.agents_open = agents == "open" or (agents == "auto" and is_loopback(host))
        self._entries = [_TokenEntry(d, g) for d, g in parse_agent_tokens(agent_tokens or {})]
        self.admin_grant = AgentGrant("admin", everything=True)
        if agents == "open" and not is_loopback(host):
            log.warning(
                "auth_agents = open on %s: anyone who can reach the port may control any probe",
                host,
            )

    # ---------------------------------------------------------------- REST and dashboard

    def check_request(
        self, method: str, path: str, headers: Mapping[str, str], query: str = ""
    ) -> Denied | None:
        """None if the request may proceed, else why not (401: no/invalid token, 403: too weak).

        Mutating methods on anything need the admin token; reads need nothing (``auth_read =
        open``) or the read or admin token.
        """
        mutating = method.upper() not in READ_METHODS
        if self.admin_open if mutating else self.read_open:
            return None
        token = bearer_token(headers, query)
        if token is None:
            need = "the admin token" if mutating else "a read or admin token"
            return Denied(
                401, "unauthorized", f"{method} {path} needs {need}: Authorization: Bearer <token>"
            )
        if _equal(token, self.admin_token):
            return None
        is_read = bool(self.read_token) and _equal(token, self.read_token)
        if is_read or self._agent_entry(token) is not None:
            if mutating:
                return Denied(403, "forbidden", f"{method} {path} needs the admin token")
            if is_read:
                return None
            return Denied(403, "forbidden", "agent tokens give no REST access")
        return Denied(401, "invalid_token", "the token is not valid")

    # ---------------------------------------------------------------- agents

    def _agent_entry(self, token: str) -> _TokenEntry | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for entry in self._entries:  # no early exit: the time does not depend on which matched
            if hmac.compare_digest(digest, entry.digest):
                found = entry
        return found

    def agent_grant(self, token: str | None) -> AgentGrant | Denied | None:
        """The grant of an agent token.

        Returns:
            None when agents are open and no token was given (anyone may register anything);
            an `AgentGrant`; or `Denied` (401) for a missing token in token mode or an invalid
            token in any mode (a wrong token is a mistake worth reporting even where open).
        """
        if token is None:
            if self.agents_open:
                return None
            return Denied(401, "unauthorized", "this universe needs an agent token")
        if _equal(token, self.admin_token):
            return self.admin_grant
        entry = self._agent_entry(token)
        if entry is None:
            return Denied(401, "invalid_token", "the agent token is not valid")
        return entry.grant

    def may_register(
        self,
        grant: AgentGrant | None,
        probe_ids: Iterable[str],
        parent_of: Callable[[str], str | None],
    ) -> str | None:
        """None if ``grant`` may control all of ``probe_ids``, else the first refused id."""
        if grant is None:
            return None if self.agents_open else next(iter(probe_ids), "")
        for pid in probe_ids:
            if not grant.allows(pid, parent_of):
                return pid
        return None


# ------------------------------------------------------------------------------ wiring helpers


def split_register_token(data: bytes) -> tuple[bytes, str | None]:
    """Take the ``"token"`` field out of a register message (other messages pass unchanged).

    The agent message parser forbids unknown keys, so the gateway removes the token first; the
    cheap substring test keeps this off the hot path (actions never carry a token).
    """
    if b'"token"' not in data:
        return data, None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data, None
    if not isinstance(obj, dict) or obj.get("type") != "register" or "token" not in obj:
        return data, None
    token = obj.pop("token")
    return orjson.dumps(obj), token if isinstance(token, str) else ""


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> bytes:
    """An HTTP error reply: ``{"ok": false, "error": {"code", "message", "details"?}}``.

    The one envelope of every refusal, in the REST app (api.py) and before it (this module's
    guard, the gateway's front door); ``ok`` is the reference wire's success flag.
    """
    err: dict[str, Any] = {"code": code, "message": message}
    if details:
        err["details"] = dict(details)
    return orjson.dumps({"ok": False, "error": err})


def install_rest_guard(
    app: Any,
    auth: Auth,
    limiter: KeyedRateLimiter | None = None,
    *,
    max_body: int | None = None,
) -> None:
    """Check every request of the Quart ``app`` before its handler runs.

    Order: rate limit per client address (429 + ``Retry-After``), then `Auth.check_request`
    (401 with ``WWW-Authenticate: Bearer``, or 403). ``max_body`` caps request bodies (413).
    """
    from quart import Response, request

    if max_body is not None:
        app.config["MAX_CONTENT_LENGTH"] = max_body

    async def guard() -> Response | None:
        if limiter is not None:
            address = request.remote_addr or "?"  # the client's host (ASGI scope), no port
            wait = limiter.take(address)
            if wait > 0:
                seconds = max(1, math.ceil(wait)) if math.isfinite(wait) else 60
                return Response(
                    error_body(
                        "rate_limited",
                        f"too many requests from {address}; retry in {seconds} s",
                        {"retry_after": seconds},
                    ),
                    status=429,
                    content_type="application/json",
                    headers={"Retry-After": str(seconds)},
                )
        headers = {k.lower(): v for k, v in request.headers.items()}
        denied = auth.check_request(
            request.method, request.path, headers, request.query_string.decode("latin-1")
        )
        if denied is None:
            return None
        extra = {"WWW-Authenticate": 'Bearer realm="universed"'} if denied.status == 401 else {}
        return Response(
            error_body(denied.code, denied.message),
            status=denied.status,
            content_type="application/json",
            headers=extra,
        )

    app.before_request(guard)
