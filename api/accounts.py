"""Accounts and API keys: the queries behind authentication and `silab-admin` (the audit log is
api.audit's). Helpers take the session keyword-only; the caller commits.

API keys are `silab_` + 43 URL-safe characters from `secrets.token_urlsafe(32)`: 256 random bits.
Only their sha256 is stored. A slow password hash (bcrypt, argon2) exists to make guessing a
LOW-entropy secret from a stolen hash expensive; a 256-bit random key cannot be guessed however
fast the hash is, so sha256 is enough, and being unsalted and deterministic it lets a request's key
be found with one indexed lookup (`api_key.key_hash` is unique) instead of a hash per stored key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Account, ApiKey, Experiment, Role, Status
from db.types import utcnow

KEY_PREFIX = "silab_"
# Characters of a key kept in clear (with KEY_PREFIX) to name it in lists and `revoke-key`.
SHOWN_CHARS = 8
NAME_PATTERN = r"^[\w.@+-]{1,100}$"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account behind a valid key."""

    account_id: int
    name: str
    role: Role
    key_id: int
    key_prefix: str
    key_expires_at: datetime | None
    max_running: int | None  # the account's own limits (None: the lab default)
    max_queued: int | None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin


class AccountError(ValueError):
    """A refused account operation (unknown user, duplicate name, bad role)."""


# ------------------------------------------------------------------------------------ lookups
def authenticate(key: str, *, session: Session, now: datetime | None = None) -> Principal | None:
    """The principal of a valid key: known, not revoked, not expired, account enabled."""
    now = now or utcnow()
    row = session.execute(
        select(ApiKey, Account)
        .join(Account, ApiKey.account_id == Account.id)
        .where(ApiKey.key_hash == hash_key(key))
    ).first()
    if row is None:
        return None
    api_key, account = row
    # The lookup is an indexed equality on the hash; compare again in constant time so that no
    # code path of ours compares key material with an early-exit ==.
    if not hmac.compare_digest(api_key.key_hash, hash_key(key)):
        return None
    if api_key.revoked_at is not None or account.disabled:
        return None
    if api_key.expires_at is not None and api_key.expires_at <= now:
        return None
    return Principal(
        account_id=account.id,
        name=account.name,
        role=account.role,
        key_id=api_key.id,
        key_prefix=api_key.prefix,
        key_expires_at=api_key.expires_at,
        max_running=account.max_running,
        max_queued=account.max_queued,
    )


def find_account(name: str, *, session: Session) -> Account | None:
    return session.scalar(select(Account).where(Account.name == name))


def count_accounts(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Account)) or 0


def count_by_status(owner: str, status: Status, *, session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Experiment)
            .where(Experiment.owner == owner, Experiment.status == status)
        )
        or 0
    )


# ------------------------------------------------------------------------------ administration
def create_account(
    name: str,
    *,
    session: Session,
    role: Role | str = Role.member,
    max_running: int | None = None,
    max_queued: int | None = None,
) -> Account:
    import re

    if not re.match(NAME_PATTERN, name):
        raise AccountError(f"bad user name {name!r}: 1-100 letters, digits or . @ + - _")
    if role not in tuple(Role):
        raise AccountError(f"unknown role {role!r}; use {' or '.join(Role)}")
    if find_account(name, session=session) is not None:
        raise AccountError(f"user {name!r} already exists")
    account = Account(
        name=name, role=Role(role), max_running=max_running, max_queued=max_queued, disabled=False
    )
    session.add(account)
    session.flush()
    return account


def create_key(
    account: Account,
    *,
    session: Session,
    label: str = "",
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key for `account`: the stored row and the key itself (shown once, never stored)."""
    if expires_in is not None and expires_in <= timedelta(0):
        raise AccountError("a key's lifetime must be positive (None: it never expires)")
    now = now or utcnow()
    key = new_key()
    row = ApiKey(
        account_id=account.id,
        key_hash=hash_key(key),
        prefix=key[: len(KEY_PREFIX) + SHOWN_CHARS],
        label=label[:200],
        created_at=now,
        expires_at=now + expires_in if expires_in is not None else None,
    )
    session.add(row)
    session.flush()
    return row, key


def revoke_key(ident: str, *, session: Session, now: datetime | None = None) -> list[ApiKey]:
    """Revoke the keys named by `ident`: a key id, a shown prefix (`silab_AbCdEfGh`) or the whole
    key. Returns the keys revoked now (already revoked ones are left as they are)."""
    now = now or utcnow()
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    if ident.isdigit():
        query = query.where(ApiKey.id == int(ident))
    elif len(ident) > len(KEY_PREFIX) + SHOWN_CHARS:
        query = query.where(ApiKey.key_hash == hash_key(ident))
    else:
        query = query.where(ApiKey.prefix == ident)
    keys = list(session.scalars(query))
    for key in keys:
        key.revoked_at = now
    session.flush()
    return keys
