"""The fair-turn rule, which the dispatcher's order and `position`'s replay both follow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Turns:
    """The fair-turn rule, which the dispatcher's order and `position`'s replay both follow: the
    next slot goes to the user with the fewest busy slots, then to the one handed a slot least
    recently, then to the one whose oldest waiting experiment is oldest. A slot handed in this
    round counts one more busy and is more recent than any before it (`handed`: the order of
    this round's last hand-outs), so ties never hang on clock resolution."""

    busy: dict[str, int]  # owner -> busy slots (shared with the Pool while dispatching)
    last_start: dict[str, datetime]  # owner -> when last handed a slot, before this round
    handed: dict[str, int] = field(default_factory=dict)
    _handouts: int = 0

    def next(self, oldest: dict[str, int]) -> str:
        """Whose turn it is among `oldest`'s owners (owner -> their oldest waiting id)."""
        return min(oldest, key=lambda owner: self._key(owner, oldest[owner]))

    def hand(self, owner: str) -> None:
        self.busy[owner] = self.busy.get(owner, 0) + 1
        self._handouts += 1
        self.handed[owner] = self._handouts

    def _key(self, owner: str, oldest_id: int) -> tuple[int, int, datetime, int]:
        recency = self.handed.get(owner, 0)
        return (self.busy.get(owner, 0), recency, self.last_start.get(owner, _EPOCH), oldest_id)
