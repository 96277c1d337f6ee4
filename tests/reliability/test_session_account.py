"""The session trials' accounting (tool faults, user-code faults): what a session's spool
acknowledged, held against what the backend stored, counted into the group's promises."""

from __future__ import annotations

from trials.summary import GroupResult
from trials.support import SessionAccount


def test_a_sessions_writes_are_counted_lost_invented_and_duplicated() -> None:
    account = SessionAccount()
    account.committed(["s:1", "s:2"])
    account.committed(["s:3"])
    account.delivered = ["s:1", "s:2", "s:2", "x:9"]  # s:3 lost, s:2 twice, x:9 never acked
    account.problems.append("s: did not exit")

    result = GroupResult("sessions")
    result.count_session(account.counted(), account.problems)
    result.count_session(SessionAccount().counted(), [])

    assert (result.trials, result.faults) == (2, 2)
    figures = (result.acknowledged, result.delivered, result.lost)
    assert figures == (3, 2, 1)
    assert (result.invented, result.duplicated) == (1, 1)
    assert result.failures == ["s: did not exit"]
    assert not result.ok
