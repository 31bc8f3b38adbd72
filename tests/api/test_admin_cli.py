"""silab-admin refuses a key lifetime of 0 or fewer days with a clear message (0 made a key that
never expired, -1 one that was already expired)."""

from __future__ import annotations

import pytest

from api import admin


@pytest.mark.parametrize("days", ["0", "-1", "-0.5", "nan", "inf", "soon"])
def test_create_key_refuses_a_lifetime_that_is_not_positive(days, capsys):
    with pytest.raises(SystemExit) as exit_info:
        admin.parser().parse_args(["create-key", "alice", "--expires-in-days", days])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--expires-in-days" in message


def test_create_key_takes_a_positive_lifetime_or_none():
    args = admin.parser().parse_args(["create-key", "alice", "--expires-in-days", "0.5"])
    assert args.expires_in_days == 0.5
    assert admin.parser().parse_args(["create-key", "alice"]).expires_in_days is None
