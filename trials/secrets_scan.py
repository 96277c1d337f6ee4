"""Known fake secrets, and everything a session leaves behind to look for them in: log records
(every logger, DEBUG, with their ``extra`` fields and tracebacks), exception messages, reprs,
files on disk (spool, journal, backend database) and printed output."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Fake, but shaped like the real ones; each is unique enough that a hit is a leak.
SECRETS = {
    "VOICEFSM_BACKEND_TOKEN": "fake-backend-token-5f0c9a7e31",
    "LIVEKIT_API_KEY": "APIfakekey8d2b61",
    "LIVEKIT_API_SECRET": "fake-livekit-secret-6c41e0b9d2a7f35e",
    "DEEPGRAM_API_KEY": "fake-deepgram-key-a9b8c7d6e5",
    "ELEVEN_API_KEY": "sk_fake_eleven_0f1e2d3c4b5a",
    "VOICEFSM_LLM_API_KEY": "sk-fake-llm-key-77aa66bb55cc",
}


class _Everything(logging.Handler):
    """Keeps each record as text: message, every attribute (``extra`` included), traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        text = [record.getMessage(), repr(sorted(record.__dict__.items(), key=str))]
        if record.exc_info:
            text.append(self._formatter.formatException(record.exc_info))
        self.lines.append("\n".join(text))


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every record any logger passes on while inside, at DEBUG."""
    handler = _Everything()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.captureWarnings(True)
    try:
        yield handler.lines
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(level)


@contextmanager
def secrets_in_environment(**more: str) -> Iterator[None]:
    """The fake secrets (and ``more``) as environment variables, as a deployment sets them."""
    wanted = {**SECRETS, **more}
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def leaks(texts: Iterable[str | bytes], where: str) -> list[str]:
    """One line per secret found, naming the secret and where it was seen."""
    found = []
    for text in texts:
        data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        found += [
            f"{name} found in {where}"
            for name, secret in SECRETS.items()
            if secret.encode() in data
        ]
    return sorted(set(found))


def files_under(directory: Path) -> Iterator[bytes]:
    """The raw bytes of every file below ``directory`` (databases, WAL journals, anything)."""
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            yield path.read_bytes()
