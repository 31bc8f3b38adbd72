"""`silab-admin` (or `python -m api.admin`): accounts and API keys, on the server.

    silab-admin create-user alice [--role member|admin] [--max-running N] [--max-queued N]
    silab-admin create-key alice [--label laptop] [--expires-in-days 90]   # prints the key ONCE
    silab-admin revoke-key silab_AbCdEfGh        # a key id, its shown prefix, or the whole key
    silab-admin set-limits alice --max-running 2 --max-queued default
    silab-admin list-users
    silab-admin list-keys [alice]
    silab-admin recount-usage                    # after rows were deleted or changed in SQL

It talks to the database directly (SILAB_DATABASE_URL, as the API does), so it runs where the
server runs; it is a separate console script rather than `silab admin …` because the `silab`
client only speaks HTTP and usually runs on a laptop without the database. Every change is
written to the audit log (actor `silab-admin`).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import accounts, audit
from db import usage
from db.config import DbSettings
from db.models import Account, ApiKey, Role
from db.session import make_engine, make_sessionmaker

ACTOR = "silab-admin"


def _limit(text: str) -> int | None:
    if text in ("default", "none", ""):
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("a limit is at least 1 (or 'default')")
    return value


def _days(text: str) -> float:
    # 0 used to mean "never expires" (falsy) and -1 an already expired key: both are mistakes.
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not (value > 0 and math.isfinite(value)) or value > 36_500:
        raise argparse.ArgumentTypeError(
            f"--expires-in-days must be a positive number of days up to 36500, not {text}; "
            "leave it out for a key that never expires"
        )
    return value


def _account(session: Session, name: str) -> Account:
    account = accounts.find_account(name, session=session)
    if account is None:
        raise accounts.AccountError(f"no user {name!r} (silab-admin list-users)")
    return account


def cmd_create_user(args: argparse.Namespace, session: Session) -> None:
    account = accounts.create_account(
        args.name,
        session=session,
        role=args.role,
        max_running=args.max_running,
        max_queued=args.max_queued,
    )
    audit.record(
        "create_user",
        session=session,
        actor=ACTOR,
        detail={"user": account.name, "role": account.role},
    )
    session.commit()
    print(f"created {account.role} {account.name}; now: silab-admin create-key {account.name}")


def cmd_create_key(args: argparse.Namespace, session: Session) -> None:
    account = _account(session, args.name)
    expires = timedelta(days=args.expires_in_days) if args.expires_in_days is not None else None
    row, key = accounts.create_key(
        account, session=session, label=args.label or "", expires_in=expires
    )
    audit.record(
        "create_key", session=session, actor=ACTOR, detail={"user": account.name, "key": row.prefix}
    )
    session.commit()
    until = f", expires {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else ""
    print(
        f"key {row.id} ({row.prefix}…) for {account.name}{until}. It is shown only now:",
        file=sys.stderr,
    )
    print(key)


def cmd_revoke_key(args: argparse.Namespace, session: Session) -> None:
    revoked = accounts.revoke_key(args.key, session=session)
    if not revoked:
        raise accounts.AccountError(f"no active key matches {args.key!r} (silab-admin list-keys)")
    for row in revoked:
        audit.record(
            "revoke_key", session=session, actor=ACTOR, detail={"key": row.prefix, "key_id": row.id}
        )
    session.commit()
    for row in revoked:
        print(f"revoked key {row.id} ({row.prefix}…)")


def cmd_set_limits(args: argparse.Namespace, session: Session) -> None:
    account = _account(session, args.name)
    if args.max_running is not _UNSET:
        account.max_running = args.max_running
    if args.max_queued is not _UNSET:
        account.max_queued = args.max_queued
    if args.role:
        account.role = args.role
    audit.record(
        "set_limits",
        session=session,
        actor=ACTOR,
        detail={
            "user": account.name,
            "role": account.role,
            "max_running": account.max_running,
            "max_queued": account.max_queued,
        },
    )
    session.commit()
    print(
        f"{account.name}: role {account.role}, max_running {account.max_running or 'default'}, "
        f"max_queued {account.max_queued or 'default'}"
    )


def cmd_list_users(_: argparse.Namespace, session: Session) -> None:
    for account in session.scalars(select(Account).order_by(Account.name)):
        print(
            f"{account.name}\t{account.role}\tmax_running={account.max_running or 'default'}"
            f"\tmax_queued={account.max_queued or 'default'}"
        )


def cmd_list_keys(args: argparse.Namespace, session: Session) -> None:
    query = select(ApiKey).join(Account).order_by(ApiKey.id)
    if args.name:
        query = query.where(Account.name == args.name)
    for row in session.scalars(query):
        state = (
            "revoked"
            if row.revoked_at
            else (f"expires {row.expires_at:%Y-%m-%d}" if row.expires_at else "active")
        )
        print(f"{row.id}\t{row.prefix}…\t{row.account.name}\t{state}\t{row.label}")


def cmd_recount_usage(args: argparse.Namespace, session: Session) -> None:
    """The counters the queued limit and the trace quota read (db.usage) are kept by the
    service's own writes; rows deleted or changed in SQL leave them behind until this."""
    before = usage.counters(session=session)
    after = usage.rebuild(session=session)
    changed = {
        owner: {"was": list(before.get(owner, (0, 0))), "now": list(after.get(owner, (0, 0)))}
        for owner in sorted(set(before) | set(after))
        if before.get(owner) != after.get(owner)
    }
    audit.record("recount-usage", session=session, actor=ACTOR, detail={"changed": changed})
    session.commit()
    for owner in sorted(set(before) | set(after)):
        now = after.get(owner, (0, 0))
        was = changed.get(owner, {}).get("was")
        note = f"\t(was {was[1]} queued, {was[0]} trace points)" if was else ""
        print(f"{owner}\t{now[1]} queued\t{now[0]} trace points{note}")


_UNSET = object()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="silab-admin", description=__doc__.split("\n\n")[0])
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    roles = [role.value for role in Role]

    create_user = commands.add_parser("create-user", help="add a user")
    create_user.add_argument("name")
    create_user.add_argument("--role", choices=roles, default=Role.member.value)
    create_user.add_argument("--max-running", type=_limit, default=None)
    create_user.add_argument("--max-queued", type=_limit, default=None)
    create_user.set_defaults(run=cmd_create_user)

    create_key = commands.add_parser("create-key", help="a new API key (printed once)")
    create_key.add_argument("name")
    create_key.add_argument("--label", help="what the key is for")
    create_key.add_argument("--expires-in-days", type=_days)
    create_key.set_defaults(run=cmd_create_key)

    revoke_key = commands.add_parser("revoke-key", help="revoke a key (id, prefix or key)")
    revoke_key.add_argument("key")
    revoke_key.set_defaults(run=cmd_revoke_key)

    set_limits = commands.add_parser("set-limits", help="a user's limits ('default': the lab's)")
    set_limits.add_argument("name")
    set_limits.add_argument("--max-running", type=_limit, default=_UNSET)
    set_limits.add_argument("--max-queued", type=_limit, default=_UNSET)
    set_limits.add_argument("--role", choices=roles)
    set_limits.set_defaults(run=cmd_set_limits)

    commands.add_parser("list-users", help="users and their limits").set_defaults(
        run=cmd_list_users
    )
    list_keys = commands.add_parser("list-keys", help="keys (never the keys themselves)")
    list_keys.add_argument("name", nargs="?")
    list_keys.set_defaults(run=cmd_list_keys)
    commands.add_parser(
        "recount-usage", help="reset each user's queued count and trace points from the rows"
    ).set_defaults(run=cmd_recount_usage)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    engine = make_engine(DbSettings())
    try:
        with make_sessionmaker(engine)() as session:
            args.run(args, session)
    except accounts.AccountError as error:
        print(f"silab-admin: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
