"""``load_flow``: a flow from a YAML file, for people who do not write Python.

The file is checked against its schema (:mod:`.file_schema`: unknown keys, wrong types,
duplicate keys), its references are resolved, and the flow is then built and validated exactly
as a Python flow is. Every problem is reported at once, in one
:class:`~voicefsm.errors.FlowDefinitionError` whose lines name the file, the line, the node and
the key.
"""

from __future__ import annotations

import importlib
import re
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model

from voicefsm.errors import FlowDefinitionError
from voicefsm.flows.file_schema import EdgeFile, FieldFile, FlowFile, NodeFile
from voicefsm.flows.flow import Flow
from voicefsm.flows.nodes import FlowEdge, Node, TaskStep

_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
MAX_FILE_BYTES = 1_000_000


class _DuplicateKey(yaml.MarkedYAMLError):
    """A mapping with a key written twice."""


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                problem = f"the key {key!r} is written twice"
                raise _DuplicateKey(problem=problem, problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _line(root: yaml.Node | None, location: tuple[int | str, ...]) -> int | None:
    """The line of the deepest YAML node ``location`` reaches."""
    node, line = root, None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            matches = [(k, v) for k, v in node.value if k.value == part]
            if not matches:
                break
            key, node = matches[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _where(path: Path, root: yaml.Node | None, location: tuple[int | str, ...]) -> str:
    line = _line(root, location)
    shown = ".".join(str(part) for part in location)
    return f"{path}:{line}: {shown}" if line else f"{path}: {shown or 'the file'}"


def _read(path: Path) -> tuple[yaml.Node | None, object]:
    try:
        text = path.read_bytes()[:MAX_FILE_BYTES].decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowDefinitionError(str(path), [f"{path}: cannot read it ({exc})"]) from None
    try:
        root = yaml.compose(text, Loader=_Loader)
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        said = problem if isinstance(exc, _DuplicateKey) else f"not valid YAML ({problem})"
        raise FlowDefinitionError(str(path), [f"{where}: {said}"]) from None
    return root, document


def _resolve(reference: str, references: Mapping[str, object]) -> object:
    if reference in references:
        return references[reference]
    module, _, attribute = reference.partition(":")
    if not attribute:
        msg = "neither a name given in references nor module:attribute"
        raise LookupError(msg)
    try:
        value: object = importlib.import_module(module)
        for part in attribute.split("."):
            value = getattr(value, part)
    except Exception as exc:  # any import failure is the file's problem, named
        msg = f"cannot import it ({type(exc).__name__}: {exc})"
        raise LookupError(msg) from None
    return value


def _data_model(name: str, fields: Mapping[str, FieldFile]) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    for field_name, spec in fields.items():
        kind: Any = Literal[tuple(spec.enum)] if spec.enum else _TYPES[cast("str", spec.type)]
        info = Field(
            None,
            ge=spec.minimum,
            le=spec.maximum,
            min_length=spec.min_length,
            max_length=spec.max_length,
            pattern=spec.pattern,
            description=spec.description,
            examples=list(spec.examples) or None,
        )
        definitions[field_name] = (kind | None, info)
    model: type[BaseModel] = create_model(f"{name}Data", **definitions)
    return model


class _Builder:
    """The flow class's namespace, from a checked file; reference problems collected."""

    def __init__(
        self, path: Path, root: yaml.Node | None, references: Mapping[str, object]
    ) -> None:
        self.path, self.root, self.references = path, root, references
        self.problems: list[str] = []

    def resolve(self, reference: str, location: tuple[int | str, ...]) -> Any:  # noqa: ANN401
        try:
            value = _resolve(reference, self.references)
        except LookupError as exc:
            self.problems.append(f"{_where(self.path, self.root, location)}: {reference}: {exc}")
            return None
        if not callable(value):
            self.problems.append(f"{_where(self.path, self.root, location)}: not callable")
            return None
        return value

    def node(self, name: str, spec: NodeFile) -> Node:
        at: tuple[int | str, ...] = ("nodes", name)
        task = None
        if spec.task is not None:
            factory = self.resolve(spec.task.run, (*at, "task", "run"))
            task = TaskStep(factory or _missing, dict(spec.task.stores))
        agent = self.resolve(spec.agent, (*at, "agent")) if spec.agent else None
        node = Node(
            spec.instructions,
            collects=tuple(spec.collects),
            tools=tuple(spec.tools),
            context=spec.context,
            final=spec.final,
            initial=spec.initial,
            task=task,
            agent=agent,
        )
        node.name = name
        return node

    def edge(self, source: Node, name: str, spec: EdgeFile) -> FlowEdge:
        at = ("nodes", source.name, "edges", name, "when")
        when = self.resolve(spec.when, at) if spec.when else None
        edge = source.to(
            spec.to,
            when=when,
            requires=tuple(spec.requires),
            equals=spec.equals,
            refusal=spec.refusal,
            clears=tuple(spec.clears),
            description=spec.description,
            tool=spec.tool,
            auto=spec.auto,
        )
        edge.name = name
        return edge


def _missing() -> object:
    msg = "this task's reference did not resolve"
    raise RuntimeError(msg)


def load_flow(
    path: str | Path, *, references: Mapping[str, Callable[..., object]] | None = None
) -> type[Flow[Any]]:
    """The flow a YAML file declares, as a :class:`~voicefsm.flows.Flow` class (validated as a
    Python flow is). ``references`` names guards, tasks and agents the file refers to by a bare
    name; others are ``module:attribute``. Raises :class:`FlowDefinitionError`."""
    path = Path(path)
    root, document = _read(path)
    try:
        checked = FlowFile.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            location = tuple(error["loc"])
            key = str(location[-1]) if location else ""
            message = f"unknown key {key!r}" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{_where(path, root, location)}: {message}")
        raise FlowDefinitionError(str(path), problems) from None
    name = checked.flow or re.sub(r"\W", "", path.stem.title()) or "Flow"
    builder = _Builder(path, root, references or {})
    nodes = {key: builder.node(key, spec) for key, spec in checked.nodes.items()}
    namespace: dict[str, object] = dict(nodes)
    for key, spec in checked.nodes.items():
        for edge_name, edge in spec.edges.items():
            if edge_name in namespace:
                where = _where(path, root, ("nodes", key, "edges", edge_name))
                builder.problems.append(f"{where}: the name of another node or edge too")
            namespace[edge_name] = builder.edge(nodes[key], edge_name, edge)
    if builder.problems:
        raise FlowDefinitionError(str(path), _by_line(builder.problems))
    namespace["common_tools"] = tuple(checked.common_tools)
    model = _data_model(name, checked.data)
    try:
        return types.new_class(name, (Flow[model],), {}, lambda ns: ns.update(namespace))  # type: ignore[valid-type]
    except FlowDefinitionError as exc:
        located = [_located(path, root, problem) for problem in exc.problems]
        raise FlowDefinitionError(str(path), _by_line(located)) from None


_LINE = re.compile(r"^[^\n]*?:(\d+): ")


def _by_line(problems: list[str]) -> list[str]:
    """In the order of the file (problems of no one line first, as they came)."""

    def line(problem: str) -> int:
        found = _LINE.match(problem)
        return int(found.group(1)) if found else 0

    return sorted(problems, key=line)


_NAMED = re.compile(r"^node (\w+)(?:, edge (\w+))?:")


def _located(path: Path, root: yaml.Node | None, problem: str) -> str:
    """A definition problem ("node collect, edge go_on: ...") with the file and line it is at."""
    named = _NAMED.match(problem)
    if named is None:
        return f"{path}: {problem}"
    node, edge = named.groups()
    location: tuple[str, ...] = ("nodes", node, "edges", edge) if edge else ("nodes", node)
    line = _line(root, location)
    return f"{path}:{line}: {problem}" if line else f"{path}: {problem}"
