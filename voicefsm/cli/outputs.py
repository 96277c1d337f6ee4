"""Where a command will write, checked before it starts: a run of minutes must not end in a
traceback because its output directory cannot be made or its report file cannot be written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def usable_directory(path: Path) -> str | None:
    """Make ``path`` (with its parents) if needed; why it cannot take files, or ``None``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"{path} exists and is not a directory"
    except OSError as exc:
        return f"{path} cannot be made ({exc.strerror})"
    return _can_create_in(path)


def usable_file(path: Path) -> str | None:
    """Why ``path`` cannot be written as a file (its directory is made if needed), or ``None``.
    Nothing is left behind by the check."""
    if path.is_dir():
        return f"{path} is a directory"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return usable_directory(path.parent)


def _can_create_in(directory: Path) -> str | None:
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".voicefsm-check-"):
            pass
    except OSError as exc:
        return f"{directory} is not writable ({exc.strerror})"
    return None
