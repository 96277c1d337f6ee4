"""The fast clock's devices: a speaker that plays at once but keeps the audio's own time, so a
barge-in lands where the scenario says and what was heard of a cut-off reply is known."""

from __future__ import annotations

import asyncio

from livekit import rtc

from voicefsm.providers.fast_audio import FastSpeaker, FastTranscript, heard_words
from voicefsm.providers.scripted import TTS_SAMPLE_RATE, tone

REPLY = "Friday at eight for five people then"


def frame(seconds: float) -> rtc.AudioFrame:
    data = tone(seconds, TTS_SAMPLE_RATE)
    return rtc.AudioFrame(
        data=data, sample_rate=TTS_SAMPLE_RATE, num_channels=1, samples_per_channel=len(data) // 2
    )


async def speaker_saying(text: str) -> tuple[FastSpeaker, FastTranscript]:
    transcript = FastTranscript()
    await transcript.capture_text(text)
    return FastSpeaker(transcript), transcript


def test_the_words_heard_are_those_begun_by_the_position_played() -> None:
    assert heard_words(REPLY, 0.0, 3.0) == ""
    assert heard_words(REPLY, 0.1, 3.0) == "Friday"
    assert heard_words(REPLY, 1.0, 3.0) == "Friday at eight"
    assert heard_words(REPLY, 3.0, 3.0) == REPLY


async def test_a_segment_plays_at_once_and_reports_its_whole_length() -> None:
    speaker, _ = await speaker_saying(REPLY)
    await speaker.capture_frame(frame(0.5))
    await speaker.capture_frame(frame(1.0))
    assert speaker.playing.is_set()
    speaker.flush()
    finished = await asyncio.wait_for(speaker.wait_for_playout(), 1)
    assert (finished.playback_position, finished.interrupted) == (1.5, False)
    assert finished.synchronized_transcript is None  # all of it was heard
    assert not speaker.playing.is_set()


async def test_an_armed_segment_holds_at_its_mark_until_the_caller_cuts_it_off() -> None:
    speaker, _ = await speaker_saying(REPLY)
    speaker.arm(0.6)
    await speaker.capture_frame(frame(1.0))
    await speaker.capture_frame(frame(2.0))
    assert speaker.held
    assert not speaker.reached.is_set()  # not all of its audio is in yet
    speaker.flush()
    assert speaker.reached.is_set()
    assert speaker.playing.is_set()
    speaker.clear_buffer()  # livekit interrupts it: the caller spoke
    finished = await asyncio.wait_for(speaker.wait_for_playout(), 1)
    assert (finished.playback_position, finished.interrupted) == (0.6, True)
    assert finished.synchronized_transcript == heard_words(REPLY, 0.6, 3.0) == "Friday at"
    assert not speaker.playing.is_set()


async def test_a_held_segment_released_plays_to_its_end() -> None:
    speaker, _ = await speaker_saying(REPLY)
    speaker.arm(0.2)
    await speaker.capture_frame(frame(1.0))
    speaker.flush()
    assert speaker.held
    speaker.release()  # a speech livekit does not interrupt
    finished = await asyncio.wait_for(speaker.wait_for_playout(), 1)
    assert (finished.playback_position, finished.interrupted) == (1.0, False)


async def test_a_segment_shorter_than_the_mark_ends_and_gives_the_caller_their_cue() -> None:
    speaker, _ = await speaker_saying("Yes.")
    speaker.arm(5.0)
    await speaker.capture_frame(frame(0.4))
    speaker.flush()
    finished = await asyncio.wait_for(speaker.wait_for_playout(), 1)
    assert (finished.playback_position, finished.interrupted) == (0.4, False)
    assert speaker.reached.is_set()
    await speaker.capture_frame(frame(0.4))  # the next segment is not held any more
    speaker.flush()
    assert (await speaker.wait_for_playout()).playback_position == 0.4
