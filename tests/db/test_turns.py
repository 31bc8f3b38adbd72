"""db.scheduler.Turns, the fair-turn rule shared by the dispatcher and `position`: fewest busy,
then least recently handed a slot, then oldest waiting; a slot handed in this round is the most
recent one, whatever the clock says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db.scheduler import Turns

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_fewest_busy_goes_first() -> None:
    turns = Turns({"alice": 2, "bob": 1}, {})
    assert turns.next({"alice": 1, "bob": 2}) == "bob"


def test_then_least_recently_handed_then_oldest_waiting() -> None:
    turns = Turns({}, {"alice": T0, "bob": T0 - timedelta(hours=1)})
    assert turns.next({"alice": 1, "bob": 2}) == "bob"
    assert Turns({}, {}).next({"alice": 2, "bob": 1}) == "bob"


def test_handing_a_slot_passes_the_turn_on() -> None:
    turns = Turns({}, {})
    order = []
    for _ in range(6):
        owner = turns.next({"alice": 1, "bob": 2, "carol": 3})
        turns.hand(owner)
        order.append(owner)
    assert order == ["alice", "bob", "carol"] * 2
    assert turns.busy == {"alice": 2, "bob": 2, "carol": 2}


def test_a_slot_handed_now_is_more_recent_than_any_stored_time() -> None:
    """A stored start later than the round's clock (another host's clock, a test's `now`) must
    not let a user who was just handed a slot go again before the other."""
    turns = Turns({"alice": 1, "bob": 0}, {"alice": T0 + timedelta(days=1)})
    turns.hand("bob")  # bob: 1 busy, handed in this round
    assert turns.next({"alice": 1, "bob": 2}) == "alice"
