"""Scenario files are read under their cap and never past it; only regular files are read (a
FIFO would block, a device never ends); ``--scenario`` takes files, directories and globs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicefsm.simulation.reading import read_capped, scenario_paths
from voicefsm.simulation.scenario import MAX_SCENARIO_BYTES, ScenarioError, load_scenario

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev are POSIX")


def test_a_file_at_the_cap_is_read_and_one_byte_over_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"x" * 100)
    assert read_capped(path, 100) == b"x" * 100
    with pytest.raises(ValueError, match="larger than 99 bytes"):
        read_capped(path, 99)


def test_a_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"not a regular file \(a FIFO\)"):
        read_capped(fifo, MAX_SCENARIO_BYTES)


def test_a_device_and_a_directory_are_refused() -> None:
    with pytest.raises(ValueError, match="a character device"):
        read_capped(Path("/dev/zero"), MAX_SCENARIO_BYTES)
    with pytest.raises(ValueError, match="directory"):
        read_capped(Path("/"), MAX_SCENARIO_BYTES)
    with pytest.raises(ScenarioError, match="/dev/zero: not a regular file"):
        load_scenario(Path("/dev/zero"))


@pytest.mark.slow
def test_huge_files_and_fifos_get_one_line_and_exit_2_without_being_read(tmp_path: Path) -> None:
    """A sparse 64 GiB file would take minutes to read whole (and all the memory); a FIFO
    with no writer would block for ever."""
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as file:
        file.truncate(64 * 2**30)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path, reason in ((huge, "larger than 1048576 bytes"), (fifo, "not a regular file")):
        result = subprocess.run(
            [sys.executable, "-m", "voicefsm", "simulate", "--scenario", str(path)],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1
        assert f"voicefsm simulate: {path}: {reason}" in result.stderr


def test_files_directories_and_globs_make_one_ordered_list_without_repeats(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    (suite / "nested").mkdir(parents=True)
    for name in ("b.yaml", "a.json", "c.yml", "notes.txt", "nested/d.yaml"):
        (suite / name).write_text("turns: [{user: hi}]")
    found = scenario_paths([str(suite), str(suite / "b.yaml"), f"{suite}/**/*.yaml"])
    assert [str(p.relative_to(suite)) for p in found] == [
        "a.json",
        "b.yaml",
        "c.yml",
        "nested/d.yaml",
    ]
    with pytest.raises(ValueError, match="no file matches"):
        scenario_paths([f"{suite}/*.toml"])
    with pytest.raises(ValueError, match="no scenario files"):
        scenario_paths([str(tmp_path)])  # it holds a directory, no scenario file
