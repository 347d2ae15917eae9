"""Unit tests of universed.server.auth: token sources, constant-time checks, REST, agent rules."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import orjson
import pytest

from universed.server.auth import (
    ADMIN_TOKEN_FILE,
    AgentGrant,
    Auth,
    AuthConfigError,
    Denied,
    bearer_token,
    error_body,
    is_loopback,
    parse_agent_tokens,
    resolve_admin_token,
    split_register_token,
)

ADMIN = "admin-token-0123456789"
READ = "read-token-0123456789"
ALICE = "alice-token-0123456789"
BOB = "bob-token-0123456789ab"

PARENTS = {"1-2": "1-1", "1-3": "1-2", "1-4": "1-1", "2-1": None}


def parent_of(pid: str) -> str | None:
    return PARENTS.get(pid)


def make_auth(**kw: object) -> Auth:
    tokens = {
        "alice": {"token": ALICE, "probes": ["1-4"]},
        "bob": {"token_sha256": hashlib.sha256(BOB.encode()).hexdigest(), "lineages": ["1-2"]},
    }
    args: dict[str, object] = {"agent_tokens": tokens, "read_token": READ}
    args.update(kw)
    return Auth(ADMIN, **args)  # type: ignore[arg-type]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("host", "loop"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("::", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_bearer_header_then_query() -> None:
    assert bearer_token(bearer("abc")) == "abc"
    assert bearer_token({"authorization": "bearer  abc "}) == "abc"
    assert bearer_token({"authorization": "Basic abc"}) is None
    assert bearer_token({}, "x=1&token=q%2Bt") == "q+t"
    assert bearer_token(bearer("h"), "token=q") == "h"
    assert bearer_token({}, "token=") is None


def test_configured_token_wins(tmp_path: Path) -> None:
    (tmp_path / ADMIN_TOKEN_FILE).write_text("file-token-0123456789\n")
    tok = resolve_admin_token(ADMIN, tmp_path, host="0.0.0.0", durable_state_dir=False)
    assert (tok.value, tok.source) == (ADMIN, "config")


def test_short_configured_token_refused(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="at least 16 characters"):
        resolve_admin_token("short", tmp_path, host="127.0.0.1", durable_state_dir=True)


def test_generated_once_then_read_back(tmp_path: Path) -> None:
    first = resolve_admin_token("", tmp_path, host="127.0.0.1", durable_state_dir=True)
    assert first.source == "generated" and len(first.value) >= 32
    path = tmp_path / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = resolve_admin_token("", tmp_path, host="0.0.0.0", durable_state_dir=True)
    assert (again.value, again.source, again.path) == (first.value, "file", path)


def test_non_loopback_without_a_knowable_token_refused(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match=r"refusing to listen on '0.0.0.0'.*admin_token"):
        resolve_admin_token("", tmp_path, host="0.0.0.0", durable_state_dir=False)
    assert not (tmp_path / ADMIN_TOKEN_FILE).exists()
    # a durable state dir is fine: the operator reads the generated file
    tok = resolve_admin_token("", tmp_path, host="0.0.0.0", durable_state_dir=True)
    assert tok.source == "generated"


def test_bad_token_file(tmp_path: Path) -> None:
    (tmp_path / ADMIN_TOKEN_FILE).write_text("x\n")
    with pytest.raises(AuthConfigError, match="at least 16"):
        resolve_admin_token("", tmp_path, host="127.0.0.1", durable_state_dir=True)


def test_mutating_requests_need_the_admin_token() -> None:
    auth = make_auth()
    assert auth.check_request("POST", "/api/pause", {}) == Denied(
        401, "unauthorized", "POST /api/pause needs the admin token: Authorization: Bearer <token>"
    )
    assert auth.check_request("POST", "/api/pause", bearer("wrong-token")).code == "invalid_token"  # type: ignore[union-attr]
    assert auth.check_request("POST", "/api/pause", bearer(ADMIN)) is None
    assert auth.check_request("DELETE", "/api/x", {}, f"token={ADMIN}") is None
    weak = auth.check_request("POST", "/api/pause", bearer(READ))
    assert isinstance(weak, Denied) and (weak.status, weak.code) == (403, "forbidden")
    agent = auth.check_request("POST", "/api/pause", bearer(ALICE))
    assert isinstance(agent, Denied) and agent.status == 403


def test_reads_open_or_token() -> None:
    assert make_auth().check_request("GET", "/api/status", {}) is None
    closed = make_auth(read="token")
    denied = closed.check_request("GET", "/api/status", {})
    assert isinstance(denied, Denied) and denied.status == 401
    assert closed.check_request("GET", "/api/status", bearer(READ)) is None
    assert closed.check_request("HEAD", "/", {}, f"token={ADMIN}") is None
    bad = closed.check_request("GET", "/api/status", bearer("nope-nope"))
    assert isinstance(bad, Denied) and (bad.status, bad.code) == (401, "invalid_token")
    agent = closed.check_request("GET", "/api/status", bearer(ALICE))
    assert isinstance(agent, Denied) and agent.status == 403


def test_agents_open_on_loopback_only_by_default() -> None:
    assert make_auth(host="127.0.0.1").agent_grant(None) is None
    remote = make_auth(host="0.0.0.0")
    denied = remote.agent_grant(None)
    assert isinstance(denied, Denied) and denied.code == "unauthorized"
    assert make_auth(agents="token").agent_grant(None) == Denied(
        401, "unauthorized", "this universe needs an agent token"
    )
    assert make_auth(agents="open", host="0.0.0.0").agent_grant(None) is None


def test_agent_grants() -> None:
    auth = make_auth(agents="token")
    alice = auth.agent_grant(ALICE)
    bob = auth.agent_grant(BOB)
    assert isinstance(alice, AgentGrant) and alice.name == "alice"
    assert isinstance(bob, AgentGrant) and bob.name == "bob"
    assert auth.may_register(alice, ["1-4"], parent_of) is None
    assert auth.may_register(alice, ["1-4", "1-1"], parent_of) == "1-1"
    # a lineage: the root and every descendant, not the ancestors or cousins
    assert auth.may_register(bob, ["1-2", "1-3"], parent_of) is None
    assert auth.may_register(bob, ["1-1"], parent_of) == "1-1"
    assert auth.may_register(bob, ["1-4"], parent_of) == "1-4"
    admin = auth.agent_grant(ADMIN)
    assert isinstance(admin, AgentGrant) and admin.everything
    assert auth.may_register(admin, ["2-1", "1-1"], parent_of) is None
    invalid = auth.agent_grant("not-a-token-at-all")
    assert isinstance(invalid, Denied) and invalid.code == "invalid_token"


def test_lineage_walk_is_bounded_on_a_cycle() -> None:
    grant = AgentGrant("g", lineages=frozenset({"9-9"}))
    assert not grant.allows("1-1", lambda p: "1-2" if p == "1-1" else "1-1")


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({"a": "x"}, "expected a table"),
        ({"a": {"token": ALICE}}, "grants nothing"),
        ({"a": {"probes": ["1-1"]}}, "exactly one of token"),
        ({"a": {"token": "short", "probes": ["1-1"]}}, "at least 16"),
        ({"a": {"token_sha256": "zz", "probes": ["1-1"]}}, "64 hex digits"),
        ({"a": {"token": ALICE, "probes": "1-1"}}, "list of probe ids"),
        ({"a": {"token": ALICE, "probes": ["1-1"], "colour": 1}}, "unknown keys"),
        (
            {"a": {"token": ALICE, "probes": ["1-1"]}, "b": {"token": ALICE, "probes": ["1-2"]}},
            "share one token",
        ),
    ],
)
def test_bad_agent_token_tables(table: dict[str, object], error: str) -> None:
    with pytest.raises(AuthConfigError, match=error):
        parse_agent_tokens(table)


def test_wildcard_probe_grant() -> None:
    ((_, grant),) = parse_agent_tokens({"ops": {"token": ALICE, "probes": ["*"]}})
    assert grant.everything and grant.allows("77-1", parent_of)


def test_bad_modes() -> None:
    with pytest.raises(AuthConfigError):
        Auth(ADMIN, read="maybe")
    with pytest.raises(AuthConfigError):
        Auth(ADMIN, agents="sometimes")
    with pytest.raises(AuthConfigError):
        Auth("")


def test_admin_open_is_loopback_only() -> None:
    auth = Auth(ADMIN, admin="open")
    assert auth.check_request("POST", "/api/pause", {}) is None
    with pytest.raises(AuthConfigError, match="only allowed on a loopback"):
        Auth(ADMIN, admin="open", host="0.0.0.0")
    with pytest.raises(AuthConfigError):
        Auth(ADMIN, admin="sometimes")


def test_split_register_token() -> None:
    data, token = split_register_token(b'{"type":"register","probe_id":"1-1","token":"abc"}')
    assert token == "abc" and orjson.loads(data) == {"type": "register", "probe_id": "1-1"}
    assert split_register_token(b'{"action":"survey"}') == (b'{"action":"survey"}', None)
    odd = b'{"type":"register","probe_id":"1-1","token":5}'
    assert split_register_token(odd)[1] == ""
    broken = b'{"token": '
    assert split_register_token(broken) == (broken, None)
    other = b'{"type":"actions","token":"x"}'
    assert split_register_token(other) == (other, None)


def test_error_bodies_carry_ok_false_and_the_object_envelope() -> None:
    body = orjson.loads(error_body("forbidden", "no", {"retry_after": 3}))
    assert body == {
        "ok": False,
        "error": {"code": "forbidden", "message": "no", "details": {"retry_after": 3}},
    }
    assert next(iter(body)) == "ok"
    assert orjson.loads(error_body("x", "y")) == {
        "ok": False,
        "error": {"code": "x", "message": "y"},
    }
