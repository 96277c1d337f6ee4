"""A picture of one session: its lifecycle states as coloured bands over time, user turns and
barge-ins marked, the time each turn was thought about (and livekit's latencies, when known)
written above it; below them, a row per conversation flow with its nodes as bands (where the
conversation was). SVG for embedding, or a small HTML page with the figures as tables.

Every drawn band carries ``data-state`` (a node's: ``data-flow`` and ``data-node``),
``data-start`` and ``data-seconds``, so the picture can be checked against the timeline it was
drawn from.
"""

from __future__ import annotations

import html
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from voicefsm.observability.figures import (
    NodeStay,
    Record,
    dwell_by_state,
    node_stays,
    split,
    stays,
    turn_figures,
)

COLOURS = {
    "joining": "#9e9e9e",
    "loading_context": "#a1887f",
    "greeting": "#4db6ac",
    "listening": "#64b5f6",
    "thinking": "#ffb74d",
    "speaking": "#81c784",
    "persisting": "#ba68c8",
    "exiting": "#616161",
}
#: Node bands take these in turn, by the order the nodes were first entered.
NODE_COLOURS = ("#e3f2fd", "#fff3e0", "#e8f5e9", "#fce4ec", "#ede7f6", "#e0f7fa", "#f9fbe7")
WIDTH, LEFT, RIGHT = 1200, 20, 20
BAND_Y, BAND_H = 70, 44
#: A flow's row of node bands, under the states (one row per flow).
NODE_ROW_H, NODE_GAP = 26, 6
NODES_Y = BAND_Y + BAND_H + 26


def _tick_step(duration: float) -> float:
    raw = max(duration / 12, 0.1)
    power = 10 ** math.floor(math.log10(raw))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= raw))


def render_svg(
    records: Sequence[Record],
    *,
    title: str = "session timeline",
    latencies: Sequence[dict[str, Any]] = (),
) -> str:
    records, nodes = split(records)
    all_stays = stays(records)
    duration = max((stay.end for stay in all_stays), default=0.0) or 1.0
    scale = (WIDTH - LEFT - RIGHT) / duration
    flows = node_stays(nodes, end=duration)
    rows = sorted({stay.flow for stay in flows})
    below = len(rows) * (NODE_ROW_H + NODE_GAP) + (10 if rows else 0)
    height = 230 + below

    def x(t: float) -> float:
        return round(LEFT + t * scale, 2)

    svg = ET.Element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        width=str(WIDTH),
        height=str(height),
        viewBox=f"0 0 {WIDTH} {height}",
        attrib={"font-family": "sans-serif", "font-size": "11"},
    )
    ET.SubElement(svg, "title").text = title
    ET.SubElement(svg, "text", x=str(LEFT), y="18", attrib={"font-size": "14"}).text = title

    for stay in all_stays:
        width = max(stay.seconds * scale, 1.0 if stay.seconds == 0 else 0.0)
        band = ET.SubElement(
            svg,
            "rect",
            x=str(x(stay.start)),
            y=str(BAND_Y),
            width=str(round(width, 2)),
            height=str(BAND_H),
            fill=COLOURS.get(stay.state, "#cccccc"),
            attrib={
                "data-state": stay.state,
                "data-start": f"{stay.start:.6f}",
                "data-seconds": f"{stay.seconds:.6f}",
                "data-turn": str(stay.turn),
            },
        )
        ET.SubElement(band, "title").text = f"{stay.state}: {stay.seconds:.3f} s (turn {stay.turn})"
        if width > 7 * len(stay.state):
            ET.SubElement(
                svg, "text", x=str(x(stay.start) + 4), y=str(BAND_Y + BAND_H / 2 + 4)
            ).text = stay.state

    e2e = {int(item["turn"]): item.get("e2e_latency_s") for item in latencies}
    thinking = {figure.turn: figure for figure in turn_figures(records)}
    for record in records:
        t = float(record["t"])
        if record["trigger"] == "user_turn_completed":
            turn = int(record.get("turn", 0))
            ET.SubElement(
                svg,
                "line",
                x1=str(x(t)),
                x2=str(x(t)),
                y1="40",
                y2=str(BAND_Y + BAND_H + 6),
                stroke="#333",
                attrib={"data-mark": "turn", "data-turn": str(turn)},
            )
            note = f"turn {turn}"
            if turn in thinking:
                note += f" · think {thinking[turn].thinking_s:.2f}s"
            if e2e.get(turn) is not None:
                note += f" · e2e {e2e[turn]:.2f}s"
            ET.SubElement(svg, "text", x=str(x(t) + 3), y="50").text = note
        elif record["trigger"] == "interrupted":
            ET.SubElement(
                svg,
                "line",
                x1=str(x(t)),
                x2=str(x(t)),
                y1=str(BAND_Y - 6),
                y2=str(BAND_Y + BAND_H + 18),
                stroke="#d32f2f",
                attrib={
                    "stroke-width": "2",
                    "data-mark": "barge-in",
                    "data-turn": str(record.get("turn", 0)),
                },
            )
            ET.SubElement(
                svg, "text", x=str(x(t) + 3), y=str(BAND_Y + BAND_H + 16), fill="#d32f2f"
            ).text = "barge-in"

    _draw_nodes(svg, flows, rows, x)
    step = _tick_step(duration)
    axis_y = BAND_Y + BAND_H + 40 + below
    ET.SubElement(
        svg,
        "line",
        x1=str(LEFT),
        x2=str(x(duration)),
        y1=str(axis_y),
        y2=str(axis_y),
        stroke="#555",
    )
    for index in range(int(duration / step) + 1):
        t = index * step
        ET.SubElement(
            svg,
            "line",
            x1=str(x(t)),
            x2=str(x(t)),
            y1=str(axis_y),
            y2=str(axis_y + 5),
            stroke="#555",
        )
        ET.SubElement(svg, "text", x=str(x(t) - 6), y=str(axis_y + 17)).text = f"{t:g}s"

    legend_x = LEFT
    for state, colour in COLOURS.items():
        legend_y = 205 + below
        ET.SubElement(
            svg, "rect", x=str(legend_x), y=str(legend_y), width="12", height="12", fill=colour
        )
        ET.SubElement(svg, "text", x=str(legend_x + 16), y=str(legend_y + 10)).text = state
        legend_x += 30 + 7 * len(state)
    return ET.tostring(svg, encoding="unicode") + "\n"


def _draw_nodes(
    svg: ET.Element,
    flows: Sequence[NodeStay],
    rows: Sequence[str],
    x: Any,  # noqa: ANN401
) -> None:
    """A row per flow: its nodes as bands, named where they fit (and in their tooltip)."""
    colours: dict[str, str] = {}
    for index, flow in enumerate(rows):
        y = NODES_Y + index * (NODE_ROW_H + NODE_GAP)
        ET.SubElement(svg, "text", x=str(LEFT), y=str(y - 2), fill="#555").text = flow
        for stay in (stay for stay in flows if stay.flow == flow):
            colour = colours.setdefault(stay.node, NODE_COLOURS[len(colours) % len(NODE_COLOURS)])
            width = max(x(stay.end) - x(stay.start), 1.0)
            band = ET.SubElement(
                svg,
                "rect",
                x=str(x(stay.start)),
                y=str(y),
                width=str(round(width, 2)),
                height=str(NODE_ROW_H - 8),
                fill=colour,
                stroke="#90a4ae",
                attrib={
                    "data-flow": flow,
                    "data-node": stay.node,
                    "data-start": f"{stay.start:.6f}",
                    "data-seconds": f"{stay.seconds:.6f}",
                },
            )
            ET.SubElement(band, "title").text = f"{flow}: {stay.node}, {stay.seconds:.3f} s"
            if width > 7 * len(stay.node):
                ET.SubElement(svg, "text", x=str(x(stay.start) + 4), y=str(y + 13)).text = stay.node


def render_html(
    records: Sequence[Record],
    *,
    title: str = "session timeline",
    latencies: Sequence[dict[str, Any]] = (),
) -> str:
    svg = render_svg(records, title=title, latencies=latencies)
    records, nodes = split(records)
    dwell = dwell_by_state(records)
    end = max((stay.end for stay in stays(records)), default=0.0)
    in_nodes: dict[tuple[str, str], float] = {}
    for stay in node_stays(nodes, end=end):
        in_nodes[stay.flow, stay.node] = in_nodes.get((stay.flow, stay.node), 0.0) + stay.seconds
    node_rows = "".join(
        f"<tr><td>{html.escape(flow)}</td><td>{html.escape(node)}</td><td>{seconds:.3f}</td></tr>"
        for (flow, node), seconds in in_nodes.items()
    )
    nodes_table = (
        "<h2>Time in each node (s)</h2><table><tr><th>flow</th><th>node</th><th>seconds</th></tr>"
        f"{node_rows}</table>"
        if node_rows
        else ""
    )
    dwell_rows = "".join(
        f"<tr><td>{html.escape(state)}</td><td>{seconds:.3f}</td></tr>"
        for state, seconds in dwell.items()
    )
    e2e = {int(item["turn"]): item.get("e2e_latency_s") for item in latencies}
    turn_rows = "".join(
        f"<tr><td>{f.turn}</td><td>{f.thinking_s:.3f}</td>"
        f"<td>{'' if f.speaking_s is None else f'{f.speaking_s:.3f}'}</td>"
        f"<td>{'' if e2e.get(f.turn) is None else f'{e2e[f.turn]:.3f}'}</td>"
        f"<td>{'yes' if f.interrupted else ''}</td></tr>"
        for f in turn_figures(records)
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}svg{max-width:100%;height:auto}"
        "table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>\n{svg}"
        "<h2>Time in each state (s)</h2><table><tr><th>state</th><th>seconds</th></tr>"
        f"{dwell_rows}</table>{nodes_table}"
        "<h2>Turns (s)</h2><table><tr><th>turn</th><th>thinking</th><th>speaking</th>"
        f"<th>e2e latency</th><th>interrupted</th></tr>{turn_rows}</table>"
        "</body></html>\n"
    )
