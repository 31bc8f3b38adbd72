"""Domain errors of the service layer. One handler (api.errors.service_error_handler) turns them
into HTTP responses, so a service says what went wrong and the route layer says how it looks."""

from __future__ import annotations

from collections.abc import Sequence


class ServiceError(Exception):
    """A refused request: `str(error)` is the message shown to the caller."""


class NotFound(ServiceError):
    """The thing asked for does not exist (or the caller may not know that it does)."""


class Forbidden(ServiceError):
    """The caller may see it but not do this to it."""


class Conflict(ServiceError):
    """Not possible in the current state (a status, an idempotency key used for another body)."""


class LimitExceeded(ServiceError):
    """Over a user's limit, e.g. the queued-experiments limit."""


class BadRequest(ServiceError):
    """A malformed query parameter that is not one field's value (a sort key, a cursor)."""


Issue = tuple[tuple[str | int, ...], str, str]


class Invalid(ServiceError):
    """A value that breaks a rule: `loc` is the field's path as FastAPI reports it, e.g.
    ("body", "spec", "max_memory_gb") or ("query", "metrics"); `kind` is the 422 issue's type
    ("value_error", or a trainer.spec.Unstated for a rule the schema cannot state). `issues`
    holds every broken rule, (loc, message, kind) each, when one request breaks several (a bulk
    submit's items)."""

    def __init__(self, loc: Sequence[str | int], message: str, kind: str = "value_error") -> None:
        super().__init__(message)
        self.loc = tuple(loc)
        self.issues: list[Issue] = [(self.loc, message, kind)]

    @classmethod
    def many(cls, issues: Sequence[Issue]) -> Invalid:
        first = cls(*issues[0])
        first.issues = list(issues)
        return first

    def within(self, *prefix: str | int) -> Invalid:
        """The same issues, with each loc's leading "body" replaced by `prefix` (an item of a
        batch: ("body", "items", 3))."""
        return Invalid.many(
            [((*prefix, *loc[1:]), message, kind) for loc, message, kind in self.issues]
        )

    @classmethod
    def query(cls, name: str, message: str, kind: str = "value_error") -> Invalid:
        return cls(("query", name), message, kind)
