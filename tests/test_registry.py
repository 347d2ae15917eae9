"""Controllers, policies and plugin discovery."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from universed.agents.builtin_policies import FallbackPolicy, WaitPolicy
from universed.core.registry import PolicyController, Registry, RemoteController, normalize_action
from universed.plugins import hookimpl, load_policies, make_plugin_manager


class Recorder(RemoteController):
    def __init__(self) -> None:
        super().__init__("rec", inherits=True)
        self.got: list[tuple[int, list[Any]]] = []

    def deliver(self, tick: int, observations: Any) -> None:
        self.got.append((tick, list(observations)))


def table() -> dict[str, Any]:
    return {"wait": WaitPolicy(), "fallback": FallbackPolicy()}


def test_builtin_policies() -> None:
    fb = FallbackPolicy()
    assert fb.decide({"hull": 1.0}) == {"action": "wait"}
    assert fb.decide({"hull": 0.5, "cargo": {"iron": 10.0}}) == {"action": "repair"}
    assert fb.decide({"hull": 0.5, "cargo": {"iron": 0.0}}) == {"action": "wait"}
    assert WaitPolicy().decide({}) == {"action": "wait"}


def test_normalize_action() -> None:
    assert normalize_action("survey") == {"type": "survey"}
    assert normalize_action({"action": "mine", "resource": "iron"}) == {
        "type": "mine",
        "resource": "iron",
    }
    for garbage in (None, 3, "fly", {"action": "fly"}, {"resource": "iron"}, ["wait"]):
        assert normalize_action(garbage) is None


def test_one_controller_per_probe_and_inheritance() -> None:
    reg = Registry(table(), fallback="fallback", inherit=True)
    a, b = Recorder(), Recorder()
    reg.assign("1-1", a)
    reg.assign("1-1", b)
    assert reg.controller_of("1-1") is b and a.probes == set() and b.probes == {"1-1"}
    reg.on_birth("1-2", "1-1")
    assert reg.controller_of("1-2") is b
    b.inherits = False
    reg.on_birth("1-3", "1-1")
    assert reg.controller_of("1-3") is None
    assert reg.controller_name("1-3") == "default:fallback"
    reg.drop(b)
    assert reg.controller_of("1-1") is None and not reg.remotes
    pol = reg.policy_controller("wait")
    reg.assign("1-4", pol)
    reg.on_death("1-4")
    assert reg.controller_of("1-4") is None and pol.probes == set()


def test_controllers_hold_exactly_the_assignments() -> None:
    """`Registry.controllers` with their ``probes`` is what the tick path reads instead of
    every assignment (observe_request): they must agree after any sequence of changes."""
    import random

    rng = random.Random(7)
    reg = Registry(table(), fallback="fallback", lineages={"1-9": "wait"}, inherit=True)
    remotes = [Recorder() for _ in range(3)]
    for r in remotes:
        r.inherits = rng.random() < 0.5
    born = 20
    seen: dict[str, tuple[frozenset[str], int]] = {}
    for _ in range(2000):
        pid = f"1-{rng.randint(1, born)}"
        op = rng.randrange(6)
        if op == 0:
            reg.assign(pid, rng.choice(remotes))
        elif op == 1:
            reg.assign(pid, reg.policy_controller(rng.choice(["wait", "fallback"])))
        elif op == 2:
            reg.drop_probe(pid, rng.choice(remotes))
        elif op == 3 and rng.random() < 0.1:
            reg.drop(rng.choice(remotes))
        elif op == 4:
            born += 1
            reg.on_birth(f"1-{born}", pid)
        else:
            reg.on_death(pid)
        held = {p: c for c in reg.controllers() for p in c.probes}
        assert sum(len(c.probes) for c in reg.controllers()) == len(held)  # no probe twice
        assert held == dict(reg.assignments())
        for c in [*remotes, *reg.controllers()]:
            # a changed probe set always comes with a new version (the delta groups' cache)
            before = seen.get(c.id)
            if before is not None and before[0] != c.probes:
                assert c.probes_version != before[1]
            seen[c.id] = (frozenset(c.probes), c.probes_version)


def test_unknown_policy_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        Registry(table(), fallback="nope", inherit=True)


def test_policy_failures_are_contained(caplog: pytest.LogCaptureFixture) -> None:
    class Bad:
        name = "bad"

        def __init__(self) -> None:
            self.n = 0

        def decide(self, observation: Any) -> Any:
            self.n += 1
            if self.n == 1:
                raise ZeroDivisionError("oops")
            return object()

        def on_birth(self, probe_id: str, parent_id: str) -> None:
            raise RuntimeError("birthday")

    ctrl = PolicyController("bad", Bad(), inherits=True)
    with caplog.at_level(logging.WARNING):
        assert ctrl.decide({"probe_id": "1-1"}) is None
        assert ctrl.decide({"probe_id": "1-1"}) is None
        ctrl.on_birth("1-2", "1-1")
    assert ctrl.errors == 3
    text = caplog.text
    assert "'bad' raised" in text and "'bad' returned" in text and "on_birth" in text


def test_plugins_register_through_hooks_and_are_validated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Good:
        name = "good"

        def decide(self, observation: Any) -> Any:
            return "survey"

    class Plugin:
        @hookimpl
        def universed_policies(self) -> Any:
            return {"good": Good(), "wait": Good(), "": Good(), "nodecide": object()}

    class Broken:
        @hookimpl
        def universed_policies(self) -> Any:
            raise RuntimeError("plugin bug")

    class NotMapping:
        @hookimpl
        def universed_policies(self) -> Any:
            return ["good"]

    pm = make_plugin_manager([Plugin(), Broken(), NotMapping()])
    with caplog.at_level(logging.ERROR):
        policies = load_policies(pm, {})
    assert {"wait", "fallback", "good"} <= set(policies)  # (plus any installed plugins)
    assert "" not in policies and "nodecide" not in policies
    assert isinstance(policies["wait"], WaitPolicy)  # the built-in registered first keeps it
    assert "already registered" in caplog.text
    assert "no callable decide" in caplog.text
    assert "raised" in caplog.text and "must return a mapping" in caplog.text
    assert pm.get_plugin("builtin") is not None
