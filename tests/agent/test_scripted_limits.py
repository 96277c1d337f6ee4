"""The scripted providers stay within what a call can say: a 10 MB tool result once made the
scripted TTS try to allocate 125 GiB of tone."""

from __future__ import annotations

from livekit.agents import llm

from voicefsm.providers.scripted import ScriptedLLM, ScriptedTTS
from voicefsm.providers.scripted.llm import MAX_TOOL_SUMMARY_CHARS
from voicefsm.providers.scripted.tts import CHARS_PER_SECOND, MAX_SPOKEN_CHARS, TTS_SAMPLE_RATE

HUGE = "ten megabytes of tool result " * 360_000
LONGEST_S = MAX_SPOKEN_CHARS / CHARS_PER_SECOND


def _seconds(pcm_bytes: int) -> float:
    return pcm_bytes / 2 / TTS_SAMPLE_RATE


async def test_a_huge_text_is_synthesised_up_to_the_cap() -> None:
    tts = ScriptedTTS(ttfb_s=0.0)
    heard = 0
    async with tts.synthesize(HUGE) as stream:
        async for audio in stream:
            heard += len(audio.frame.data) * 2
    assert LONGEST_S - 1 <= _seconds(heard) <= LONGEST_S + 1
    await tts.aclose()


async def test_a_huge_text_streamed_piece_by_piece_is_spoken_up_to_the_cap() -> None:
    tts = ScriptedTTS(ttfb_s=0.0)
    heard = 0
    async with tts.stream() as stream:
        for _ in range(3):
            stream.push_text(HUGE[: len(HUGE) // 3])
        stream.end_input()
        async for audio in stream:
            heard += len(audio.frame.data) * 2
    assert LONGEST_S - 1 <= _seconds(heard) <= LONGEST_S + 1
    await tts.aclose()


async def test_the_scripted_model_tells_a_huge_tool_result_in_a_few_sentences() -> None:
    model = ScriptedLLM(ttft_s=0.0, words_per_s=10_000.0)
    context = llm.ChatContext()
    context.add_message(role="user", content="Look it up")
    context.insert(
        [
            llm.FunctionCall(call_id="c1", name="look_up", arguments="{}"),
            llm.FunctionCallOutput(call_id="c1", name="look_up", output=HUGE, is_error=False),
        ]
    )
    said = ""
    async with model.chat(chat_ctx=context) as stream:
        async for chunk in stream:
            if chunk.delta is not None and chunk.delta.content:
                said += chunk.delta.content
    assert said
    assert len(said) <= MAX_TOOL_SUMMARY_CHARS
    assert said.startswith("ten megabytes of tool result")
