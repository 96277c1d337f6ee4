"""CI-sized representatives of the reliability trials (``python -m trials`` runs the
full ones). Each asserts the group's promises: nothing acknowledged lost, nothing applied twice,
nothing invented, no crash, every check held."""

from __future__ import annotations

import os

import pytest

from trials.crash import run_crash_trials, run_sigterm_trial
from trials.faults import PROFILES, run_backend_faults
from trials.flow_resume import MODES, run_flow_resume_trials
from trials.ledger import Applied, Message, account
from trials.load import run_load
from trials.saturation import run_saturation
from trials.scale_out import run_scale_out
from trials.shared_spool import run_shared_spool
from trials.storage import CASES as STORAGE_CASES
from trials.storage import run_storage_faults
from trials.summary import GroupResult
from trials.support import POSTGRES_URL
from trials.tools import run_tool_faults
from trials.user_code import run_user_code_faults
from voicefsm.ids import SessionId
from voicefsm.persistence.targets import summary_key


@pytest.mark.slow
def test_sigkilled_sessions_lose_nothing_acknowledged_and_resume_from_the_backend() -> None:
    run_crash_trials(trials=2, parallel=2).assert_ok()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.slow
def test_a_flow_killed_mid_way_and_dispatched_again_resumes_at_its_node_with_its_data(
    mode: str,
) -> None:
    """SIGKILL of the worker in the middle of the booking flow, then the call again (same room
    by its metadata, or a returning caller): the same node, the same data, no greeting, no
    finished step taken again."""
    (result,) = run_flow_resume_trials((mode,))
    result.assert_ok()


@pytest.mark.slow
def test_sigterm_mid_session_drains_persists_and_exits_cleanly() -> None:
    run_sigterm_trial().assert_ok()


@pytest.mark.parametrize("profile", [PROFILES[1].name, PROFILES[4].name])
@pytest.mark.slow
def test_backend_faults_never_hold_a_turn_nor_lose_or_repeat_a_write(profile: str) -> None:
    (result,) = run_backend_faults(sessions=1, profiles=[profile])
    assert result.faults > 0, "no fault was injected"
    result.assert_ok()


@pytest.mark.parametrize("case", [STORAGE_CASES[1].name, STORAGE_CASES[5].name])
@pytest.mark.slow
def test_storage_faults_never_hold_a_call_nor_lose_an_acknowledged_write(case: str) -> None:
    (result,) = run_storage_faults(sessions=1, cases=[case])
    assert result.faults > 0, "no fault was injected"
    result.assert_ok()


@pytest.mark.slow
def test_tool_faults_are_contained_recorded_once_and_lose_nothing() -> None:
    run_tool_faults(full=False).assert_ok()


@pytest.mark.slow
def test_user_code_faults_are_contained_and_every_session_exits_persisted() -> None:
    run_user_code_faults(full=False, seed=20261207).assert_ok()


@pytest.mark.slow
def test_processes_sharing_a_spool_deliver_only_to_their_own_backend() -> None:
    result = run_shared_spool(processes=2, per_process=20)
    assert result.acknowledged == 40
    result.assert_ok()


@pytest.mark.slow
def test_scale_out_loses_and_repeats_nothing_when_a_replica_and_a_worker_die() -> None:
    """Two workers, two backend replicas on PostgreSQL; one of each SIGKILLed mid-run."""
    if POSTGRES_URL is None:
        if os.environ.get("CI"):
            pytest.fail("VOICEFSM_TEST_POSTGRES_URL is not set under CI")
        pytest.skip("no PostgreSQL: set VOICEFSM_TEST_POSTGRES_URL to run these")
    result = run_scale_out(POSTGRES_URL, workers=2, per_worker=3)
    assert result.acknowledged > 0
    result.assert_ok()


@pytest.mark.slow
def test_concurrent_sessions_in_several_processes_deliver_every_write_once(
    database_url: str,
) -> None:
    run_load(database_url, "CI", processes=2, per_process=4).assert_ok()


@pytest.mark.slow
def test_a_saturated_backend_answers_503_and_sessions_lose_nothing() -> None:
    result = run_saturation(sessions=2)
    assert result.faults > 0, "the backend was never saturated"
    result.assert_ok()


# -- the accounting itself must catch what it is there to catch --------------------------------


def _applied(*keys: str, summaries: tuple[str, ...] = ()) -> Applied:
    applied = Applied(summaries=set(summaries))
    for key in keys:
        applied.event_keys[key] += 1
    return applied


def test_the_ledger_counts_a_clean_history_as_clean() -> None:
    result = GroupResult("t")
    account(
        result,
        acknowledged={"s:1", "s:2", summary_key(SessionId("s"))},
        applied=_applied("s:1", "s:2", summaries=("s",)),
    )
    assert (result.acknowledged, result.delivered, result.ok) == (3, 3, True)


def test_the_ledger_catches_a_lost_an_invented_and_a_duplicated_write() -> None:
    applied = _applied("s:1", "s:3", "s:3")
    result = GroupResult("t")
    account(result, acknowledged={"s:1", "s:2"}, applied=applied)
    assert (result.lost, result.invented, result.duplicated) == (1, 1, 1)
    assert not result.ok
    with pytest.raises(AssertionError, match="1 lost; 1 duplicated; 1 invented"):
        result.assert_ok()


def test_the_ledger_catches_a_user_message_stored_twice_under_two_keys() -> None:
    applied = _applied("s:1", "s:2")
    applied.messages = [Message("s:1", "s", "user", "hello"), Message("s:2", "s", "user", "hello")]
    result = GroupResult("t")
    account(result, acknowledged={"s:1", "s:2"}, applied=applied)
    assert result.duplicated == 1


def test_writes_found_only_in_the_spool_count_as_known_not_invented() -> None:
    result = GroupResult("t")
    account(result, acknowledged={"s:1"}, applied=_applied("s:1", "s:2"), known={"s:2"})
    assert result.invented == 0
