"""api.services.accounts: who sees whose rows, which queued limit applies, usage and the audit
log's cursor."""

from __future__ import annotations

import pytest
from service_helpers import principal_of, settings

from api import accounts as account_admin
from api.services import accounts
from api.services.errors import BadRequest, LimitExceeded


@pytest.fixture
def alice(session_factory, keys):
    return principal_of(session_factory, keys["alice"])


@pytest.fixture
def root(session_factory, keys):
    return principal_of(session_factory, keys["root"])


def test_own_only_visibility_narrows_a_members_list_to_their_own_rows(alice, root, tmp_path):
    own = settings(tmp_path, experiments_visible="own")
    assert accounts.visible_owner(None, principal=alice, settings=own) == (True, "alice")
    assert accounts.visible_owner("bob", principal=alice, settings=own)[0] is False
    assert accounts.visible_owner("bob", principal=root, settings=own) == (True, "bob")
    lab = settings(tmp_path)
    assert accounts.visible_owner(None, principal=alice, settings=lab) == (True, None)


def test_the_accounts_own_limit_beats_the_lab_default(
    session_factory, make_experiment, alice, tmp_path
):
    make_experiment(owner="alice")
    lab = settings(tmp_path, default_max_queued=5)
    with session_factory() as session:
        accounts.check_queued_limit("alice", None, session=session, settings=lab, adding=4)
        with pytest.raises(LimitExceeded, match="at most 5 queued experiments and has 1"):
            accounts.check_queued_limit("alice", None, session=session, settings=lab, adding=5)
        with pytest.raises(LimitExceeded, match="at most 1 queued"):
            accounts.check_queued_limit("alice", 1, session=session, settings=lab)
        account_admin.find_account("alice", session=session).max_queued = 1
        session.commit()
        with pytest.raises(LimitExceeded, match="at most 1 queued"):
            accounts.check_owner_queued_limit("alice", session=session, settings=lab)


def test_usage_counts_running_and_queued_with_the_limits_that_apply(
    session_factory, make_experiment, alice, tmp_path
):
    make_experiment(owner="alice")
    make_experiment(owner="alice", status="running", attempt=1)
    make_experiment(owner="bob")
    with session_factory() as session:
        usage = accounts.usage(
            session=session, principal=alice, settings=settings(tmp_path, default_max_running=2)
        )
    assert (usage.running, usage.queued, usage.max_running) == (1, 1, 2)


def test_the_audit_log_refuses_a_cursor_it_did_not_issue(session_factory):
    with session_factory() as session:
        for cursor in ("x", "1" * 19, "-1"):
            with pytest.raises(BadRequest):
                accounts.audit_log(
                    session=session,
                    actor=None,
                    action=None,
                    experiment_id=None,
                    limit=10,
                    cursor=cursor,
                )
