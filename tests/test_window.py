"""The action window's accounting (core/window.py): single probes owed one by one, a delta
fleet's group owed as one batch, and every other way a fleet may answer (in part, probe by
probe, not at all because it left) still closes the window exactly when everything owed is in."""

from __future__ import annotations

from typing import Any

from universed.core.window import ActionWindow

WAIT: dict[str, Any] = {"type": "wait"}


def batch(*pids: str) -> dict[str, Any]:
    return dict.fromkeys(pids, WAIT)


class Fleet:
    """A window owner (any hashable object: the engine uses the controller)."""


async def test_a_group_answered_by_one_batch_closes_with_the_singles() -> None:
    fleet = Fleet()
    window = ActionWindow(1, {"1-9"}, {fleet: ["1-1", "1-2", "1-3"]})
    assert not window.all_in.is_set()
    window.submit_many(batch("1-1", "1-2", "1-3"), fleet)
    assert not window.all_in.is_set() and window.expected == {"1-9"}  # the group, not a set
    window.submit("1-9", WAIT)
    assert window.all_in.is_set()
    assert set(window.actions) == {"1-1", "1-2", "1-3", "1-9"}


async def test_a_group_alone_and_empty_windows() -> None:
    assert ActionWindow(1, set()).all_in.is_set()
    fleet = Fleet()
    window = ActionWindow(1, set(), {fleet: ["1-1"]})
    assert not window.all_in.is_set()
    window.submit_many(batch("1-1"), fleet)
    assert window.all_in.is_set()


async def test_a_partial_batch_owes_the_rest_probe_by_probe() -> None:
    fleet = Fleet()
    window = ActionWindow(1, set(), {fleet: ["1-1", "1-2", "1-3"]})
    window.submit_many(batch("1-2"), fleet)
    assert window.expected == {"1-1", "1-3"} and not window.all_in.is_set()
    window.submit_many(batch("1-1"), fleet)  # the group is spread: a plain batch now
    assert window.expected == {"1-3"} and not window.all_in.is_set()
    window.submit("1-3", WAIT, fleet)
    assert window.all_in.is_set()


async def test_single_actions_from_a_fleet_spread_its_group() -> None:
    fleet = Fleet()
    window = ActionWindow(1, set(), {fleet: ["1-1", "1-2"]})
    window.submit("1-1", WAIT, fleet)
    assert window.groups == {} and window.expected == {"1-2"}
    window.submit("1-2", WAIT, fleet)
    assert window.all_in.is_set()


async def test_a_probe_dead_at_delivery_is_not_owed() -> None:
    fleet = Fleet()
    window = ActionWindow(1, set(), {fleet: ["1-1", "1-2", "1-3"]}, dead={"1-2"})
    window.submit_many(batch("1-1", "1-3"), fleet)  # nothing for the dead probe
    assert window.all_in.is_set() and window.expected == set()


async def test_an_agent_leaving_spreads_every_group_and_forgets_its_probes() -> None:
    leaving, staying = Fleet(), Fleet()
    window = ActionWindow(1, {"1-9"}, {leaving: ["1-1", "1-2"], staying: ["1-3"]})
    window.forget(["1-1", "1-2", "1-9"])
    assert window.groups == {} and window.expected == {"1-3"} and not window.all_in.is_set()
    window.submit_many(batch("1-3"), staying)
    assert window.all_in.is_set()


async def test_a_closed_window_takes_nothing() -> None:
    fleet = Fleet()
    window = ActionWindow(1, set(), {fleet: ["1-1"]})
    window.closed = True
    window.submit_many(batch("1-1"), fleet)
    window.submit("1-1", WAIT, fleet)
    assert window.actions == {} and window.groups == {fleet: ["1-1"]}
