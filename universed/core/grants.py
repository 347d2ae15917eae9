"""Agent token grants and the address rules the configuration validates (docs/security.md).

The part of auth that the configuration needs at load time, so that `config` (core) does not
import the server's `auth`: the ``[agent_tokens]`` table parser, what a grant allows, and
`is_loopback`. `universed.server.auth` uses them (and re-exports them) at run time.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["MIN_TOKEN_LENGTH", "AgentGrant", "AuthConfigError", "is_loopback", "parse_agent_tokens"]

MIN_TOKEN_LENGTH = 16


class AuthConfigError(ValueError):
    """A configuration that would leave the daemon open, or an invalid token table."""


def is_loopback(host: str) -> bool:
    """True for loopback literals (127.0.0.0/8, ::1) and ``localhost``; names are not resolved."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # "", "0.0.0.0"-like wildcards are addresses; anything else is a name


@attrs.frozen
class AgentGrant:
    """What one agent token may control.

    Attributes:
        name: the table key (logged, shown in /api/agents; never the token).
        probes: probe ids it controls.
        lineages: root probe ids: the root and all its descendants.
        everything: ``probes = ["*"]``, or the admin token used as an agent token.
    """

    name: str
    probes: frozenset[str] = frozenset()
    lineages: frozenset[str] = frozenset()
    everything: bool = False

    def allows(self, probe_id: str, parent_of: Callable[[str], str | None]) -> bool:
        """May this grant control ``probe_id``? ``parent_of`` walks the family tree."""
        if self.everything or probe_id in self.probes:
            return True
        if not self.lineages:
            return False
        seen = 0
        pid: str | None = probe_id
        while pid is not None and seen < 100_000:  # bounded: a corrupt tree cannot loop us
            if pid in self.lineages:
                return True
            pid = parent_of(pid)
            seen += 1
        return False


def _ids(name: str, key: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AuthConfigError(f"agent_tokens.{name}.{key}: expected a list of probe ids")
    return frozenset(value)


def parse_agent_tokens(table: Mapping[str, Any]) -> list[tuple[bytes, AgentGrant]]:
    """Validate the ``[agent_tokens.NAME]`` tables.

    Each entry: ``token = "..."`` or ``token_sha256 = "<hex>"`` (so the file need not hold the
    secret), plus ``probes = [...]`` and/or ``lineages = [...]``.

    Returns:
        (sha256 digest of the token, grant) pairs.

    Raises:
        AuthConfigError: naming the entry and key.
    """
    out: list[tuple[bytes, AgentGrant]] = []
    for name, entry in table.items():
        if not isinstance(entry, Mapping):
            raise AuthConfigError(
                f"agent_tokens.{name}: expected a table (token, probes, lineages)"
            )
        unknown = set(entry) - {"token", "token_sha256", "probes", "lineages"}
        if unknown:
            raise AuthConfigError(f"agent_tokens.{name}: unknown keys {sorted(unknown)}")
        token, hexdigest = entry.get("token"), entry.get("token_sha256")
        if (token is None) == (hexdigest is None):
            raise AuthConfigError(f"agent_tokens.{name}: give exactly one of token, token_sha256")
        if token is not None:
            if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
                raise AuthConfigError(
                    f"agent_tokens.{name}.token: a string of at least {MIN_TOKEN_LENGTH} characters"
                )
            digest = hashlib.sha256(token.encode()).digest()
        else:
            try:
                digest = bytes.fromhex(str(hexdigest))
            except ValueError:
                digest = b""
            if len(digest) != 32:
                raise AuthConfigError(f"agent_tokens.{name}.token_sha256: expected 64 hex digits")
        probes = _ids(name, "probes", entry.get("probes", []))
        lineages = _ids(name, "lineages", entry.get("lineages", []))
        if not probes and not lineages:
            raise AuthConfigError(f"agent_tokens.{name}: grants nothing (give probes or lineages)")
        everything = "*" in probes
        out.append((digest, AgentGrant(str(name), probes - {"*"}, lineages, everything=everything)))
    digests = [d for d, _ in out]
    if len(set(digests)) != len(digests):
        raise AuthConfigError("agent_tokens: two entries share one token")
    return out
