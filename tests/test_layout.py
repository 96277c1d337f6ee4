"""The package stays easy to live in: small modules, one name per concept, imports one way."""

from __future__ import annotations

import ast
import subprocess
import sys
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


def test_every_folder_says_what_it_owns() -> None:
    """A folder is a package with a docstring: the paragraph a newcomer reads first."""
    roots = [PACKAGE, PACKAGE.parent / "trials"]
    folders = {p.parent for root in roots for p in root.rglob("*.py")}
    silent = [
        str(folder.relative_to(PACKAGE.parent))
        for folder in sorted(folders)
        if not (folder / "__init__.py").exists()
        or not ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
    ]
    assert silent == []


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
                and m.split(".")[1] not in ("lifecycle", "flows", "errors", "untrusted", "logs")
            }
            assert not upward, f"{folder}/{path.name} imports {upward}"


#: The floors of the package, from the ground up (README, Development): a module imports only
#: from its own floor or the ones below. Names are module paths under ``voicefsm``; a name
#: covers its submodules. The reference backend is apart: an extra (``voicefsm[backend]``).
FLOORS: list[tuple[str, ...]] = [
    # 1. pure: the machine, the contract, the rules for foreign input, settings
    (
        "lifecycle",
        "flows",
        "backend.models",
        "backend.fields",
        "backend.flow_state",
        "backend.stored",
        "context",
        "untrusted",
        "settings",
        "errors",
        "ids",
        "logs",
        "livekit_compat",
    ),
    # 2. what a session uses: the backend's client, the outbox, metrics and spans, providers
    ("backend.client", "persistence", "observability", "providers"),
    # 3. what users write
    ("agent",),
    # 4. one call
    ("engine",),
    # 5. LiveKit jobs and the worker
    ("worker",),
    # 6. entry points
    ("cli", "simulation", "diagrams", "testing", "examples", "__main__", ""),
]
APART = ("backend.server", "backend.openapi", "backend")
#: The commands that run the reference backend, the only ones that may import it.
RUNS_THE_BACKEND = ("cli.services", "simulation.serving")
#: On floor 2, the outbox delivers through the backend's client; the others stand alone.
SIBLINGS = {("persistence", "backend.client")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _place(module: str) -> tuple[int, str]:
    """The floor (99 for the apart backend) and the name on it that covers ``module``."""
    best: tuple[int, str] | None = None
    for floor, names in [*enumerate(FLOORS, start=1), (99, APART)]:
        for name in names:
            covers = module == name or module.startswith(name + ".") or (not name and not module)
            if covers and (best is None or len(name) > len(best[1])):
                best = (floor, name)
    assert best is not None, f"voicefsm.{module} is on no floor: add it to FLOORS"
    return best


def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, every import counted: type-only ones, and
    those inside functions."""
    modules = {_module_name(p): p for p in _modules()}

    def known(name: str) -> str | None:
        name = name.removeprefix("voicefsm").removeprefix(".")
        while name not in modules:
            if not name:
                return None
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("voicefsm"):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("voicefsm")]
            found.update(target for n in names if (target := known(n)) is not None)
        graph[module] = found - {module}
    return graph


def test_imports_run_down_the_floors() -> None:
    """No module imports one on a higher floor, nor a sibling package on its floor (the
    outbox's client excepted): the engine never reaches into the worker, the agent API never
    into the engine, observability never into the outbox."""
    upward = []
    for module, targets in _graph().items():
        floor, name = _place(module)
        for target in targets:
            target_floor, target_name = _place(target)
            sideways = (
                target_floor == floor
                and floor == 2
                and name != target_name
                and (name, target_name) not in SIBLINGS
            )
            runs_it = target_floor == 99 and module in RUNS_THE_BACKEND
            if (target_floor > floor and not runs_it) or sideways:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_the_named_back_imports_stay_gone() -> None:
    """The three that once ran back up (issue 24)."""
    graph = _graph()
    assert not {m for m in graph["agent.hooks"] if m.startswith("engine")}
    assert not {m for m in graph["observability.prometheus"] if m.startswith("persistence")}
    assert "" not in graph["backend.server.app"]


def test_no_modules_import_each_other_in_a_circle() -> None:
    """Type-only imports included: a cycle is a knot a reader cannot start from."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert circles == []


def test_the_reference_backend_is_imported_only_when_it_is_run() -> None:
    """``pip install voicefsm`` leaves the backend's dependencies out: only the commands that
    run it (``voicefsm backend``, ``simulate``'s embedded one) import it, inside a function."""
    for path in _modules():
        module = _module_name(path)
        if _place(module)[0] == 99:
            continue
        for node in ast.parse(path.read_text()).body:  # module level only
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            backend = [n for n in names if n.startswith(("voicefsm.backend.server", "fastapi"))]
            assert not backend, f"{module} imports {backend} when it is loaded"


def test_trials_and_benchmarks_import_nothing_from_tests() -> None:
    """The proofs stand on their own: what they share with the tests lives in ``trials/``."""
    root = PACKAGE.parent
    for path in [*(root / "trials").rglob("*.py"), *(root / "benchmarks").rglob("*.py")]:
        imported = _imports(path)
        assert not {m for m in imported if m == "tests" or m.startswith("tests.")}, path
    for path in _modules():
        assert not {m for m in _imports(path) if m.split(".")[0] in ("tests", "trials")}, path


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
        if len(relative.parts) > 1 and relative.parts[0] not in {
            "agent",
            "engine",
            "worker",
            "lifecycle",
        }:
            # Smaller folders are described in a line of prose; their folder must be there.
            if f"{relative.parts[0]}/" not in named:
                missing.append(f"{relative.parts[0]}/")
            continue
        if path.name not in named and str(relative) not in named:
            missing.append(str(relative))
    assert not missing


def test_the_readmes_layout_names_every_top_level_folder() -> None:
    """The map covers the repository, not only the package: tests, trials, benchmarks, CI."""
    root = PACKAGE.parent
    readme = (root / "README.md").read_text()
    layout = readme.split("## Development", 1)[1].split("```", 2)[1]
    folders = {
        path.name
        for path in root.iterdir()
        if path.is_dir() and (any(path.glob("*.py")) or path.name == ".ci")
    }
    assert folders - {"diagrams"} <= {"voicefsm", "tests", "trials", "benchmarks", ".ci"}
    assert all(f"{folder}/" in layout.split() for folder in folders if folder != "diagrams")


def test_a_simulation_does_not_import_the_vendors_plugins() -> None:
    """``simulate`` runs scripted providers: the modules its command loads must not pull in
    Deepgram, ElevenLabs or OpenAI's plugins (about a second and a half of CPU at every run)."""
    code = (
        "import sys, voicefsm.cli.simulating, voicefsm.worker.loading, voicefsm.simulation.runner;"
        "print(sorted(m for m in sys.modules if m.startswith('livekit.plugins')))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert shown.stdout.strip() == "[]"
