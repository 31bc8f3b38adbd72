"""A page of a keyset-paginated list: the items and the cursor of the next page (None: last)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from api.config import ApiSettings

T = TypeVar("T")


class HasId(Protocol):
    @property
    def id(self) -> int: ...


Row = TypeVar("Row", bound=HasId)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_size(limit: int | None, settings: ApiSettings) -> int:
    """The asked-for size, or the server's default, never above the server's maximum."""
    return min(limit or settings.default_page_size, settings.max_page_size)


def id_page(rows: list[Row], size: int) -> Page[Row]:
    """`rows` fetched in id order with a limit of size + 1: the first `size`, and when there were
    more, the last one's id as the cursor."""
    page = rows[:size]
    return Page(page, str(page[-1].id) if len(rows) > size else None)
