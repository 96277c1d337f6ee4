"""The package stays easy to live in: small modules, one name per concept, imports one way."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "voicefsm"
MAX_LINES = 350


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_the_line_budget() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long


def test_no_class_name_is_defined_twice() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                homes[node.name].append(str(path.relative_to(PACKAGE)))
    assert {name: where for name, where in homes.items() if len(where) > 1} == {}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_machines_import_neither_livekit_nor_httpx() -> None:
    """The lifecycle and the flows are floor 1: pure, so they are tested (and imported by the
    command line) without livekit."""
    for folder in ("lifecycle", "flows"):
        for path in (PACKAGE / folder).glob("*.py"):
            heavy = {m for m in _imports(path) if m.split(".")[0] in ("livekit", "httpx")}
            assert not heavy, f"{folder}/{path.name}"
            upward = {
                m
                for m in _imports(path)
                if m.startswith("voicefsm.")
                and m.split(".")[1] not in ("lifecycle", "flows", "errors", "untrusted")
            }
            assert not upward, f"{folder}/{path.name} imports {upward}"


def test_only_the_runtime_reaches_up_into_the_runtime() -> None:
    """Imports run one way: providers, the agent API, persistence and the backend never import
    the engine that runs them (the simulator and the command line sit above it)."""
    below = ("agent", "providers", "persistence", "backend", "lifecycle", "flows", "observability")
    for folder in below:
        for path in (PACKAGE / folder).rglob("*.py"):
            upward = {
                m
                for m in _imports(path)
                if m.startswith(("voicefsm.runtime", "voicefsm.simulation"))
            }
            assert not upward, f"{path.relative_to(PACKAGE)} imports {upward}"


def test_livekit_internals_are_reached_only_through_the_compat_module() -> None:
    """Private livekit modules (``cli``, ``ipc``, ``voice.agent_session``...) are imported in one
    place, whose uses ``tests/test_livekit_compat.py`` pins."""
    public = {
        "livekit",
        "livekit.agents",
        "livekit.agents.voice",
        "livekit.agents.utils",
        "livekit.agents.beta.workflows",  # livekit's prebuilt tasks, public (flows run them)
        "livekit.api",
        "livekit.plugins",
        "livekit.protocol",
        "livekit.rtc",
    }
    for path in _modules():
        if path.name == "livekit_compat.py":
            continue
        private = {m for m in _imports(path) if m.startswith("livekit") and m not in public}
        assert not private, f"{path.relative_to(PACKAGE)} imports {private}"


def test_the_readmes_layout_names_every_module_of_the_package() -> None:
    """The Development section's map is the newcomer's way in: a module it does not name is a
    module nobody finds."""
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme.split("## Development", 1)[1]
    layout = section.split("```", 2)[1]
    named = set(layout.replace(",", " ").replace(";", " ").replace(":", " ").split())
    missing = []
    for path in _modules():
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py" and len(relative.parts) > 1:
            continue  # a folder is named by its own line
        if len(relative.parts) > 1 and relative.parts[0] not in {"agent", "runtime", "lifecycle"}:
            # Smaller folders are described in a line of prose; their folder must be there.
            if f"{relative.parts[0]}/" not in named:
                missing.append(f"{relative.parts[0]}/")
            continue
        if path.name not in named and str(relative) not in named:
            missing.append(str(relative))
    assert not missing
