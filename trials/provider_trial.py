"""One provider-fault trial: a whole session on a real ``AgentSession`` (scripted providers,
simulated audio, the real outbox and reference backend), a fault injected into one turn, and
an account of what happened: the lifecycle path, how it ended, and every write it acknowledged
checked against the backend's database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from livekit.agents import APIConnectOptions

from trials.live_session import Live, live_session
from trials.provider_cases import FaultCase, Step
from voicefsm.agent import DEFAULT_APOLOGY as APOLOGY
from voicefsm.agent import DEFAULT_FAREWELL as FAREWELL
from voicefsm.backend.client import BackendClient
from voicefsm.ids import SessionId
from voicefsm.lifecycle import EndReason, State
from voicefsm.livekit_compat import SessionConnectOptions
from voicefsm.persistence.outbox import Outbox
from voicefsm.persistence.targets import summary_key
from voicefsm.providers import Providers
from voicefsm.providers.faults import STTFault
from voicefsm.providers.scripted import ScriptedLLM, ScriptedSTT, ScriptedTTS

USER_TURNS = ("Is the pool open today", "And on Sunday", "What about holidays")


def short_reply(user_text: str) -> str:
    """Short replies keep trials quick; long enough for a fault to cut one off mid-way."""
    return f"Yes, about {user_text.lower()}: we are open until nine."


#: livekit retries a failed request once, quickly; a plugin gives up after half a second.
FAST_RETRIES = APIConnectOptions(max_retry=1, retry_interval=0.1, timeout=0.5)
#: Deadlines short enough for trials, long enough for a healthy reply under load.
TRIAL_SETTINGS = {
    "flush_deadline_s": 5.0,
    "farewell_deadline_s": 3.0,
    "reply_start_deadline_s": 2.0,
    "audio_stall_deadline_s": 1.0,
}
STEP_TIMEOUT_S = 12.0
SETTLED_S = 0.3


@dataclass
class TrialRecord:
    case: FaultCase
    fault_turn: int
    session_id: str
    trail: list[Step] = field(default_factory=list)
    end_reason: EndReason | None = None
    exited: bool = False
    history: list[tuple[str, str, int, bool]] = field(default_factory=list)  # role, text, turn, cut
    faults: int = 0
    acknowledged: set[str] = field(default_factory=set)
    delivered: list[str] = field(default_factory=list)  # keys, one per row in the backend
    #: The conversation as the backend has it: (role, text, interrupted), in order.
    stored_messages: list[tuple[str, str, bool]] = field(default_factory=list)
    left_in_spool: int = 0  # delivered afterwards by the next process to open the spool
    duplicate_messages: int = 0
    seconds: float = 0.0

    @property
    def lost(self) -> set[str]:
        return self.acknowledged - set(self.delivered)

    @property
    def invented(self) -> set[str]:
        return set(self.delivered) - self.acknowledged

    @property
    def duplicated(self) -> int:
        return len(self.delivered) - len(set(self.delivered)) + self.duplicate_messages

    def path_taken(self) -> bool:
        """The case's steps appear in order, one after another, from the faulted turn on."""
        start = _fault_turn_start(
            self.trail, self.fault_turn, greeting=bool(self.case.greeting_tts)
        )
        steps = list(self.case.path)
        return self.trail[start : start + len(steps)] == steps

    def broken_promises(self) -> list[str]:
        """Every expectation the trial did not meet, as sentences (empty: all held)."""
        case, problems = self.case, []
        name = f"{case.key} (fault on turn {self.fault_turn})"
        if not self.exited or self.trail[-1:] != [("persisting", "persisted", "exiting")]:
            problems.append(f"{name}: did not reach exiting cleanly: {self.trail[-3:]}")
        if not self.path_taken():
            problems.append(f"{name}: expected {list(case.path)}, got {self.trail}")
        if self.end_reason is not case.end:
            problems.append(f"{name}: ended as {self.end_reason}, expected {case.end}")
        apologies = sum(1 for role, text, _, _ in self.history if text == APOLOGY)
        if apologies != case.apologies:
            problems.append(f"{name}: {apologies} apologies recorded, expected {case.apologies}")
        replies = [
            cut
            for role, text, turn, cut in self.history
            if role == "assistant" and turn == self.fault_turn and text not in (APOLOGY, FAREWELL)
        ]
        if case.answered != (False in replies):
            problems.append(f"{name}: reply heard in full is {not case.answered}")
        if case.cut_off != (True in replies):
            problems.append(f"{name}: a cut-off reply recorded is {not case.cut_off}")
        if self.faults == 0:
            problems.append(f"{name}: no fault was played")
        return problems


def _fault_turn_start(trail: list[Step], turn: int, *, greeting: bool) -> int:
    if greeting:
        return next((i for i, step in enumerate(trail) if step[0] == "greeting"), 0)
    turns = [i for i, step in enumerate(trail) if step[1] == "user_turn_completed"]
    if len(turns) >= turn:
        return turns[turn - 1]
    # The turn was never taken (the STT is down): the path starts where the session left
    # listening after the turns that were.
    after = turns[-1] if turns else 0
    return next(
        (
            i
            for i in range(after, len(trail))
            if trail[i][0] == "listening" and trail[i][1] != "user_turn_completed"
        ),
        after,
    )


def _providers(case: FaultCase) -> tuple[Providers, ScriptedSTT, ScriptedLLM, ScriptedTTS]:
    stt, llm, tts = (
        ScriptedSTT(end_silence_s=0.2),
        ScriptedLLM(reply=short_reply, ttft_s=0.1),
        ScriptedTTS(chars_per_s=40.0),
    )
    tts.inject(*case.greeting_tts)
    providers = Providers(
        stt=stt,
        llm=llm,
        tts=tts,
        vad=None,
        turn_detection="stt",
        min_endpointing_delay_s=0.2,
        conn_options=SessionConnectOptions(
            stt_conn_options=FAST_RETRIES,
            llm_conn_options=FAST_RETRIES,
            tts_conn_options=FAST_RETRIES,
        ),
    )
    return providers, stt, llm, tts


async def _until(done: Callable[[], bool], timeout_s: float = STEP_TIMEOUT_S) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not done():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.02)
    return True


async def _settle(live: Live) -> None:
    """Wait until the agent has nothing more to say (the apology included) and the user has the
    floor, for a moment: a trial's user never talks over the agent."""
    lifecycle, session, speaker = live.session.lifecycle, live.session.agent_session, live.speaker

    def quiet() -> bool:
        return lifecycle.is_finished or (
            lifecycle.state is State.LISTENING
            and session.current_speech is None
            and not speaker.playing.is_set()
        )

    while await _until(quiet) and not lifecycle.is_finished:
        await asyncio.sleep(SETTLED_S)
        if quiet():
            return


async def _converse(live: Live, case: FaultCase, fault_turn: int, stt: ScriptedSTT) -> None:
    lifecycle = live.session.lifecycle
    for index, text in enumerate(USER_TURNS[: case.turns], start=1):
        await _settle(live)
        if lifecycle.is_finished:
            return
        if index == fault_turn:
            live.tts.inject(*case.tts)
            live.tts.faults.always = case.tts_down
            stt.inject(*case.stt)
            if case.stt_down:
                stt.faults.always = STTFault.DOWN
        if index >= fault_turn and case.llm_down is not None:
            live.llm.down = case.llm_down
        await live.microphone.speak(text)
        # The turn is taken (or, with the STT down, never is: the session ends instead).
        await _until(lambda i=index: lifecycle.turn >= i or lifecycle.is_finished, 5.0)
    await _settle(live)


def _rows(database: Path, session_id: str) -> tuple[list[str], list[tuple[str, str, bool]]]:
    """Every key the backend stored for the session, and its messages in order."""
    with sqlite3.connect(database) as db:
        events = db.execute(
            "SELECT idempotency_key, kind, role, text, payload FROM events"
            " WHERE session_id = ? ORDER BY at, id",
            (session_id,),
        ).fetchall()
        sessions = db.execute("SELECT session_id FROM sessions WHERE session_id = ?", (session_id,))
        keys = [key for key, *_ in events] + [summary_key(SessionId(sid)) for (sid,) in sessions]
    messages = [
        (role, text, bool(json.loads(payload).get("interrupted")))
        for _, kind, role, text, payload in events
        if kind == "message"
    ]
    return keys, messages


async def run_trial(
    case: FaultCase,
    *,
    backend_url: str,
    database: Path,
    workdir: Path,
    fault_turn: int = 1,
    tag: str = "",
) -> TrialRecord:
    """Run ``case`` with its fault on ``fault_turn`` and account for everything it wrote."""
    session_id = f"pf-{case.key}-{fault_turn}{tag}"
    record = TrialRecord(case, fault_turn, session_id)
    acknowledged: set[str] = set()
    lock = threading.Lock()

    def committed(keys: object) -> None:  # on the outbox's writer thread
        with lock:
            acknowledged.update(keys)  # type: ignore[call-overload]

    providers, stt, llm, tts = _providers(case)
    loop = asyncio.get_running_loop()
    started = loop.time()
    workdir.mkdir(parents=True, exist_ok=True)
    async with live_session(
        workdir,
        backend_url=backend_url,
        settings=TRIAL_SETTINGS,
        providers=providers,
        announce=stt.expect,
        session_id=session_id,
        on_commit=committed,
    ) as live:
        live.llm, live.tts, live.stt = llm, tts, stt
        for attempt_text in USER_TURNS[fault_turn - 1 : fault_turn]:
            llm.inject(attempt_text, *case.llm)
        await _converse(live, case, fault_turn, stt)
        if not live.session.lifecycle.is_finished:
            live.session.end()
        await asyncio.wait_for(live.session.finished.wait(), 30.0)
        lifecycle = live.session.lifecycle
        record.trail = live.trail()
        record.end_reason = lifecycle.end_reason
        record.exited = lifecycle.is_finished
        history = live.session.record.history
        record.history = [(m.role.value, m.text, m.turn, m.interrupted) for m in history]
        seen = [(m.role.value, m.text, m.turn, m.interrupted) for m in history]
        record.duplicate_messages = len(seen) - len(set(seen))
        record.faults = len(llm.faults_played) + len(tts.faults.played) + len(stt.faults.played)
        assert live.outbox is not None
        record.left_in_spool = (await live.outbox.stats()).pending
    if record.left_in_spool:
        await _deliver_leftovers(workdir / "spool.sqlite3", backend_url)
    record.seconds = loop.time() - started
    with lock:
        record.acknowledged = set(acknowledged)
    record.delivered, record.stored_messages = _rows(database, session_id)
    return record


async def _deliver_leftovers(spool: Path, backend_url: str) -> None:
    """What a session left in its spool is delivered by the next process that opens it."""
    async with httpx.AsyncClient(base_url=backend_url) as http:
        outbox = Outbox(spool, BackendClient(http))
        await outbox.start()
        await outbox.aclose(flush_deadline_s=10.0)
