"""``voicefsm diagrams`` and ``voicefsm timeline``: pictures of lifecycles."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from voicefsm import diagrams
from voicefsm.cli.common import fail
from voicefsm.diagrams import flow_files
from voicefsm.diagrams.flow_model import FlowDiagram, agents_diagram, flow_diagram
from voicefsm.diagrams.model import AgentShape
from voicefsm.errors import DiagramError, FlowDefinitionError
from voicefsm.flows import Flow, load_flow


def _flow_class(spec: str) -> type[Flow[Any]]:
    """``--flow``: a flow file (YAML), or a ``Flow`` class by ``module:attribute``."""
    if spec.endswith((".yaml", ".yml")):
        return load_flow(spec)
    module, _, attribute = spec.partition(":")
    if not (module and attribute):
        msg = f"--flow {spec}: expected FILE.yaml or MODULE:ATTR (a Flow class)"
        raise ValueError(msg)
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        value = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        msg = f"--flow {spec}: {type(exc).__name__}: {exc}"
        raise ValueError(msg) from None
    if not (isinstance(value, type) and issubclass(value, Flow) and value.has_nodes()):
        msg = f"--flow {spec}: {attribute} is not a Flow class with nodes"
        raise ValueError(msg)
    return value


def _agent_drawings(spec: str) -> tuple[AgentShape, FlowDiagram | None]:
    """``--agent``: its shape on the lifecycle, and its flow, or the graph of its agents."""
    from voicefsm.agent.graph import agent_graph  # noqa: PLC0415 (imports livekit)
    from voicefsm.diagrams.agent_shape import agent_shape  # noqa: PLC0415
    from voicefsm.worker.loading import AgentLoadError, load_agent  # noqa: PLC0415

    try:
        agent = load_agent(spec)()
    except AgentLoadError as exc:
        raise ValueError(str(exc)) from None
    if agent.flow_class is not None:
        return agent_shape(agent), flow_diagram(agent.flow_class.definition)
    graph = agent_graph(type(agent))
    return agent_shape(agent), agents_diagram(graph) if graph.links else None


def run_diagrams(args: argparse.Namespace) -> int:
    if args.agent and args.flow:
        return fail("diagrams", "--agent and --flow draw different things: give one")
    flow: FlowDiagram | None = None
    try:
        if args.flow:
            flow = flow_diagram(_flow_class(args.flow).definition)
            files = diagrams.render_flow_only(flow)
        else:
            shape = None
            if args.agent:
                shape, flow = _agent_drawings(args.agent)
            files = diagrams.render_all(shape, flow)
    except (ValueError, DiagramError, FlowDefinitionError) as exc:
        return fail("diagrams", str(exc))
    if args.check:
        diffs = diagrams.drift(args.out, files)
        if diffs:
            sys.stdout.writelines(diffs)
            print(
                f"voicefsm diagrams: {len(diffs)} file(s) in {args.out} differ from the code; "
                "run `voicefsm diagrams` and commit the result",
                file=sys.stderr,
            )
            return 1
        drawn = "the flow" if args.flow else "the lifecycle" + (" and the flow" if flow else "")
        print(f"{args.out}: {len(files)} files match {drawn}")
        return 0
    for path in diagrams.write(args.out, files):
        print(f"wrote {path}")
    if not args.quiet:
        texts = [] if args.flow else [diagrams.describe()]
        texts += [flow_files.describe(flow)] if flow is not None else []
        print()
        print("\n\n".join(texts))
    return 0


def run_timeline(args: argparse.Namespace) -> int:
    from voicefsm.observability import figures, picture  # noqa: PLC0415

    source: Path = args.file
    out: Path = args.output or source.with_suffix(".svg")
    if out.suffix not in (".svg", ".html"):
        print("voicefsm timeline: -o must end in .svg or .html", file=sys.stderr)
        return 2
    try:
        records = figures.read_jsonl(source)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"voicefsm timeline: cannot read {source} ({type(exc).__name__})", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"voicefsm timeline: {exc}", file=sys.stderr)
        return 2
    if not records:
        print(f"voicefsm timeline: {source} holds no transitions", file=sys.stderr)
        return 2
    render = picture.render_html if out.suffix == ".html" else picture.render_svg
    out.write_text(render(records, title=f"session timeline: {source.stem}"), encoding="utf-8")
    print(f"wrote {out}")
    return 0


def write_timelines(directory: Path, sessions: list[dict[str, object]]) -> None:
    import json  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    for session in sessions:
        if "session_id" not in session:
            continue
        # The lifecycle's transitions and the flows' node changes, in time order: the picture
        # draws both (a node change is told apart by its "kind").
        entries = [*session["timeline"], *session.get("nodes", ())]  # type: ignore[misc]
        entries.sort(key=lambda entry: float(entry["t"]))
        lines = "".join(json.dumps(entry) + "\n" for entry in entries)
        (directory / f"{session['session_id']}.jsonl").write_text(lines, encoding="utf-8")
