"""Reading the files a user names: scenario files under a size cap that is never read past,
only regular files (a FIFO would block with no message, ``/dev/zero`` never ends), and
``--scenario`` arguments that name several files, a directory or a glob."""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Sequence
from pathlib import Path

#: What a directory given to ``--scenario`` contributes: its scenario files, sorted.
SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")
#: The most scenario files one run takes.
MAX_SCENARIO_FILES = 1000


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them; ``ValueError`` (its
    message says why, in a few words) for anything else."""
    try:
        # Non-blocking: opening a FIFO with no writer would otherwise wait forever. The type is
        # checked on the open file, so a path swapped after a check cannot slip through.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        reason = "it is a directory" if exc.errno == errno.EISDIR else exc.strerror
        msg = f"cannot read ({reason})"
        raise ValueError(msg) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            msg = f"not a regular file ({_kind(mode)})"
            raise ValueError(msg)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(65_536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            msg = f"larger than {limit} bytes"
            raise ValueError(msg)
        return b"".join(chunks)
    except OSError as exc:
        msg = f"cannot read ({exc.strerror})"
        raise ValueError(msg) from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


def scenario_paths(arguments: Sequence[str]) -> list[Path]:
    """The scenario files ``--scenario`` names, in order, each once: a file as given, a
    directory's ``*.yaml``/``*.yml``/``*.json`` (not its subdirectories), a glob's matches.
    ``ValueError`` names an argument that matches nothing."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if glob.has_magic(argument):
            matches = sorted(Path(match) for match in glob.glob(argument, recursive=True))
            matches = [match for match in matches if not match.is_dir()]
            if not matches:
                msg = f"{argument}: no file matches"
                raise ValueError(msg)
            found.extend(matches)
        elif path.is_dir():
            inside = sorted(
                child
                for child in path.iterdir()
                if child.suffix.lower() in SCENARIO_SUFFIXES and not child.is_dir()
            )
            if not inside:
                msg = f"{argument}: no scenario files (*.yaml, *.yml, *.json) in this directory"
                raise ValueError(msg)
            found.extend(inside)
        else:
            found.append(path)
        if len(found) > MAX_SCENARIO_FILES:
            msg = f"more than {MAX_SCENARIO_FILES} scenario files"
            raise ValueError(msg)
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(os.path.normpath(path), path)
    return list(unique.values())
