"""Protocol-level stubs of the voice vendors on 127.0.0.1, speaking their documented wire formats:

* Deepgram live transcription: ``GET /v1/listen`` websocket; binary PCM in; ``SpeechStarted``,
  interim and final ``Results``, ``UtteranceEnd`` out; ``KeepAlive``/``Finalize``/``CloseStream``.
* ElevenLabs multi-context TTS: ``GET /v1/text-to-speech/{voice}/multi-stream-input`` websocket;
  per-context text in, base64 PCM with character alignment out, ``isFinal`` on ``close_context``.
* OpenAI-compatible chat: ``POST /v1/chat/completions`` with ``stream: true``, server-sent
  ``chat.completion.chunk`` events, a usage chunk, then ``[DONE]``; scripted per test (text or
  tool calls) with ``respond`` (:mod:`trials.stubs.chat_script`).

They check the credentials each vendor expects and record what they saw.
"""

from __future__ import annotations

import base64
import json
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from aiohttp import WSMsgType, web

from trials.stubs.chat_script import ChatRequest, Responder, stream_reply
from trials.stubs.threaded import serve_app
from voicefsm.providers.scripted import default_reply, tone
from voicefsm.settings import Settings, check_providers, load_settings

DEEPGRAM_KEY = "dg-test-key-1234"
ELEVEN_KEY = "el-test-key-5678"
LLM_KEY = "llm-test-key-9012"


@dataclass
class VendorStubs:
    url: str = ""
    transcripts: deque[str] = field(default_factory=deque)
    seen: Counter[str] = field(default_factory=Counter)
    listen_queries: list[dict[str, str]] = field(default_factory=list)
    tts_texts: list[str] = field(default_factory=list)
    llm_requests: list[dict[str, object]] = field(default_factory=list)
    #: Drop the next Deepgram websocket this many seconds into an utterance (no close frame,
    #: like a network failure); the words not yet recognised are heard on the next connection.
    drop_listen_after_s: float | None = None
    #: The chat model's script (see :mod:`trials.stubs.chat_script`); without one it answers
    #: every request with ``default_reply`` of the last user message.
    respond: Responder | None = None

    def provider_settings(self, **overrides: object) -> Settings:
        """voicefsm's settings with every vendor pointed at these stubs (checked, as the worker
        checks them)."""
        settings = load_settings(
            **overrides,
            deepgram_api_key=DEEPGRAM_KEY,
            deepgram_base_url=f"{self.url}/v1/listen",
            eleven_api_key=ELEVEN_KEY,
            elevenlabs_base_url=f"{self.url}/v1",
            llm_base_url=f"{self.url}/v1",
            llm_api_key=LLM_KEY,
            llm_model="stub-model",
            vad="none",
            min_endpointing_delay_s=0.2,
        )
        check_providers(settings)
        return settings

    def expect(self, text: str) -> None:
        """What the (simulated) user is about to say: the next utterance's transcript."""
        self.transcripts.append(text)

    # -- Deepgram ------------------------------------------------------------------------------

    async def listen(self, request: web.Request) -> web.StreamResponse:  # noqa: PLR0912 (one protocol loop)
        if request.headers.get("Authorization") != f"Token {DEEPGRAM_KEY}":
            return web.json_response({"err_code": "INVALID_AUTH"}, status=401)
        query = dict(request.query)
        self.listen_queries.append(query)
        rate = int(query.get("sample_rate", "16000"))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.seen["deepgram.connect"] += 1
        speaking, spoken, quiet, t, words_sent = False, 0.0, 0.0, 0.0, 0
        text = ""

        async def results(transcript: str, *, final: bool) -> None:
            words = [
                {
                    "word": w.lower().strip(".,?!"),
                    "punctuated_word": w,
                    "start": t,
                    "end": t,
                    "confidence": 0.9,
                }
                for w in transcript.split()
            ]
            await ws.send_json(
                {
                    "type": "Results",
                    "is_final": final,
                    "speech_final": final,
                    "start": t,
                    "duration": 0.1,
                    "channel": {
                        "alternatives": [
                            {"transcript": transcript, "confidence": 0.9, "words": words}
                        ]
                    },
                    "metadata": {"request_id": "stub-request"},
                }
            )

        async for message in ws:
            if message.type == WSMsgType.TEXT:
                kind = json.loads(message.data).get("type")
                self.seen[f"deepgram.{kind}"] += 1
                if kind == "CloseStream":
                    break
                continue
            if message.type != WSMsgType.BINARY:
                continue
            samples = np.frombuffer(message.data, dtype=np.int16)
            duration = samples.size / rate
            t += duration
            loud = (
                samples.size > 0 and float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > 500
            )
            if loud and not speaking:
                speaking, spoken, quiet, words_sent = True, 0.0, 0.0, 0
                text = self.transcripts.popleft() if self.transcripts else ""
                await ws.send_json({"type": "SpeechStarted", "channel": [0], "timestamp": t})
            if not speaking:
                continue
            if loud and self.drop_listen_after_s is not None and spoken >= self.drop_listen_after_s:
                self.drop_listen_after_s = None
                self.seen["deepgram.dropped"] += 1
                rest = text.split()[words_sent:]
                if rest:
                    self.transcripts.appendleft(" ".join(rest))
                # Abort the TCP connection: the client sees it drop, not a clean close.
                if request.transport is not None:
                    request.transport.abort()
                return ws
            if loud:
                spoken += duration
                quiet = 0.0
                heard = min(len(text.split()), int(spoken * 3) + 1)
                if heard > words_sent:
                    words_sent = heard
                    await results(" ".join(text.split()[:heard]), final=False)
                continue
            quiet += duration
            if quiet >= 0.2:
                speaking = False
                await results(text, final=True)
                await ws.send_json({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": t})
        await ws.close()
        return ws

    # -- ElevenLabs ----------------------------------------------------------------------------

    async def synthesize(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("xi-api-key") != ELEVEN_KEY:
            return web.json_response({"detail": "invalid api key"}, status=401)
        rate = int(request.query.get("output_format", "pcm_24000").split("_")[1])
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.seen["elevenlabs.connect"] += 1
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            context = data.get("context_id")
            if data.get("close_context"):
                await ws.send_json({"isFinal": True, "contextId": context})
                continue
            text = data.get("text", "")
            if not text.strip():
                continue
            self.tts_texts.append(text)
            pcm = tone(len(text) / 30.0, rate)
            per_char = int(len(text) and 1000 * len(text) / 30.0 / len(text))
            await ws.send_json(
                {
                    "audio": base64.b64encode(pcm).decode(),
                    "contextId": context,
                    "normalizedAlignment": {
                        "chars": list(text),
                        "charStartTimesMs": [i * per_char for i in range(len(text))],
                        "charDurationsMs": [per_char] * len(text),
                    },
                }
            )
        return ws

    # -- OpenAI-compatible chat ----------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {LLM_KEY}":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.json()
        self.llm_requests.append(body)
        if self.respond is not None:
            return await stream_reply(request, body, self.respond(ChatRequest(body)))
        users = [m for m in body["messages"] if m["role"] == "user"]
        last = users[-1]["content"] if users else ""
        if isinstance(last, list):
            last = " ".join(part.get("text", "") for part in last)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def event(payload: dict[str, object]) -> None:
            await response.write(f"data: {json.dumps(payload)}\n\n".encode())

        base = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body["model"],
        }
        words = default_reply(last).split()
        for index, word in enumerate(words):
            delta = {"role": "assistant", "content": word if index == 0 else " " + word}
            await event(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        await event(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        await event(
            base
            | {
                "choices": [],
                "usage": {
                    "prompt_tokens": 20,
                    "completion_tokens": len(words),
                    "total_tokens": 20 + len(words),
                },
            }
        )
        await response.write(b"data: [DONE]\n\n")
        return response


@contextmanager
def vendor_stubs() -> Iterator[VendorStubs]:
    stubs = VendorStubs()
    app = web.Application()
    app.router.add_get("/v1/listen", stubs.listen)
    app.router.add_get("/v1/text-to-speech/{voice}/multi-stream-input", stubs.synthesize)
    app.router.add_post("/v1/chat/completions", stubs.chat)
    with serve_app(app) as url:
        stubs.url = url
        yield stubs
