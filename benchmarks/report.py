"""Benchmark figures as text: a terminal summary per section, and RESULTS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**MISSED**")


def _f(value: Any, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def section(name: str, data: dict[str, Any]) -> str:  # noqa: PLR0911 (one line per step)
    if name == "state_ops":
        return (
            f"   voicefsm {data['voicefsm']['median_us']:.1f} µs median / {data['voicefsm']['p99_us']:.1f} p99; "
            f"redis RPUSH {data['redis_rpush']['median_us']:.1f} / {data['redis_rpush']['p99_us']:.1f}; "
            f"dict FSM {data['dict_fsm']['median_us']:.2f}; redis/voicefsm {data['ratio_redis_over_voicefsm_median']:.1f}x"
        )
    if name == "added_latency":
        return (
            f"   bare {_f(data['bare'].get('median_ms'), 1)} ms, voicefsm {_f(data['voicefsm'].get('median_ms'), 1)} ms "
            f"median over {data['voicefsm'].get('turns', 0)} turns; ratio {_f(data.get('ratio_median'), 4)}"
        )
    if name == "tool_calls":
        return (
            f"   tool turn: bare {data['bare']['median_ms']:.2f} ms, voicefsm {data['voicefsm']['median_ms']:.2f} ms "
            f"median over {data['voicefsm']['turns']} turns; added {data['added_median_ms']:.2f} ms"
        )
    if name == "flow_steps":
        return "   " + flow_line(data)
    if name == "backend_isolation":
        return (
            f"   healthy {_f(data['healthy'].get('median_ms'), 1)} ms, +2 s {_f(data['slow_2s'].get('median_ms'), 1)} ms, "
            f"down {_f(data['down'].get('median_ms'), 1)} ms; writes lost {data['writes']['lost']}"
        )
    if name == "scale":
        return "\n".join(
            f"   N={row['sessions']}: CPU/turn ratio {_spread(row['cpu_ratio'])}, "
            f"p95 ratio {_spread(row['p95_ratio'])}, loop lag bare {_f(row['bare']['lag_median_ms'], 1)}/"
            f"{_f(row['bare']['lag_p99_ms'], 0)} ms, voicefsm {_f(row['voicefsm']['lag_median_ms'], 1)}/"
            f"{_f(row['voicefsm']['lag_p99_ms'], 0)} ms"
            for row in data["levels"]
        )
    if name == "processes":
        return "\n".join(
            f"   {count} worker process(es): sessions per core within 10% of one session's p95 "
            f"(interpolated): bare {_crossing(w['sessions_per_core']['bare'])}, "
            f"voicefsm {_crossing(w['sessions_per_core']['voicefsm'])}"
            for count, w in data["workers"].items()
        )
    return _evals_line(data) if name == "evals" else ""


def _evals_line(data: dict[str, Any]) -> str:
    fast, real = data["fast"], data["real_time"]
    line = (
        f"   fast {fast['per_minute']:.1f} scenarios/min ({fast['scenarios']} in "
        f"{fast['seconds']:.1f} s), real time {real['per_minute']:.1f}/min "
        f"({real['scenarios']} in {real['seconds']:.1f} s); {data['speedup']:.1f}x"
    )
    if "command" in data:
        c = data["command"]
        line += (
            f"\n   simulate --fast command {c['simulate_fast_s']['median']:.2f} s (the call "
            f"{c['call_s']['median']:.2f} s; importing livekit-agents alone "
            f"{c['import_livekit_agents_s']['median']:.2f} s)"
        )
    return line


def _spread(ratio: dict[str, float] | None, digits: int = 3) -> str:
    if ratio is None:
        return "—"
    return f"{ratio['median']:.{digits}f} ({ratio['min']:.{digits}f}–{ratio['max']:.{digits}f})"


def flow_line(data: dict[str, Any]) -> str:
    return (
        f"node change: no flow {data['no_flow']['median_ms']:.2f} ms, flow "
        f"{data['flow']['median_ms']:.2f} ms median over {data['flow']['turns']} turns; added "
        f"{data['added_median_ms']:.3f} ms (target <= 1 ms: {_verdict(data['met'])})"
    )


def _flow_steps(f: dict[str, Any]) -> list[str]:
    return [
        "## 2c. A flow's node change in a turn",
        "",
        "The same `VoiceAgent`, the same scripted model calling a tool every turn: without a flow",
        "(the tool is the agent's own and moves nothing) and with one (the flow's generated edge",
        "tool: every turn changes the node, with its timeline entry, `flow_state` write, the",
        "node's instructions and tools). Both sessions open side by side, turns alternating.",
        "",
        "| agent | turns | median ms | p95 ms |",
        "|---|---|---|---|",
        *(
            f"| {label} | {f[key]['turns']} | {_f(f[key]['median_ms'], 2)} | {_f(f[key]['p95_ms'], 2)} |"
            for key, label in (("no_flow", "no flow"), ("flow", "flow"))
        ),
        "",
        f"A node change adds {_f(f['added_median_ms'], 3)} ms at the median (paired differences; "
        f"ratio {_f(f['ratio_median'], 4)}). Target ≤ 1 ms: {_verdict(f['met'])}.",
        *(
            [f"Load average during the step: {load[0]} → {load[1]} (2 cores)."]
            if (load := f.get("load_average"))
            else []
        ),
        "",
    ]


def _tool_calls(t: dict[str, Any]) -> list[str]:
    lines = [
        "## 2b. A tool call through the lifecycle",
        "",
        "One text turn (`session.run`) in which the scripted model calls one `@function_tool`,",
        "then answers: a plain livekit `Agent` on a bare `AgentSession` against the same tool on a",
        "voicefsm `VoiceAgent` (the tool's timeline entries, its outbox write, the turn's",
        "transitions and records). Both sessions open side by side, turns alternating.",
        "",
        "| agent | turns | median ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for key in ("bare", "voicefsm"):
        row = t[key]
        lines.append(f"| {key} | {row['turns']} | {row['median_ms']:.2f} | {row['p95_ms']:.2f} |")
    added = t["added_median_ms"]
    lines += [
        "",
        f"Added at the median (paired differences): {added:.2f} ms (ratio {t['ratio_median']:.3f}). "
        f"Target ≤ 1 ms added: {_verdict(added <= 1.0)}.",
        "",
    ]
    return lines


def _evals(e: dict[str, Any]) -> list[str]:
    lines = [
        "## 3b. Scenarios per minute (`simulate`)",
        "",
        "The example agent's scenario (five turns, a barge-in, two tool calls, the agent hanging up)",
        "through the production worker path with an embedded backend, as `voicefsm simulate` runs",
        "it: copies in real time (all at once), then copies in fast mode (audio on a clock that",
        "does not wait), measured one after the other in the same run. Wall time of the whole",
        "suite, the worker's and the backend's start included.",
        "",
        "| mode | scenarios | concurrency | seconds | scenarios/min | median session s |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in (("real_time", "real time"), ("fast", "fast")):
        row = e[key]
        lines.append(
            f"| {label} | {row['scenarios']} | {row['concurrency']} | {row['seconds']:.1f} "
            f"| {row['per_minute']:.1f} | {_f(row['median_session_s'], 2)} |"
        )
    load = e.get("load_average_1min")
    lines += [
        "",
        f"Fast mode: **{e['speedup']:.1f}×** the scenarios per minute of real time."
        + (f" Load average (1 min) {load[0]} before, {load[1]} after." if load else ""),
        "",
    ]
    if "command" in e:
        lines += _command(e["command"])
    return lines


def _command(c: dict[str, Any]) -> list[str]:
    def cell(spread: dict[str, float]) -> str:
        return f"{spread['median']:.2f} ({spread['min']:.2f}–{spread['max']:.2f})"

    floor = c["import_livekit_agents_s"]["median"]
    wall = c["simulate_fast_s"]["median"]
    return [
        "`voicefsm simulate --fast` as typed (the example; a fresh process each run: imports, the",
        "embedded backend, the call, the exit), beside a process that only imports livekit-agents,",
        f"interleaved, {c['runs']} runs each; wall seconds, median (min–max):",
        "",
        "| what | seconds |",
        "|---|---|",
        f"| `voicefsm simulate --fast` | {cell(c['simulate_fast_s'])} |",
        f"| of which the call (its report's duration) | {cell(c['call_s'])} |",
        f"| `python -c 'import livekit.agents'` (the floor) | {cell(c['import_livekit_agents_s'])} |",
        "",
        f"The command takes {wall / floor:.2f}× the floor. Target: the example in fast mode under "
        f"3 s: the call {_verdict(c['call_s']['median'] < 3)}, the command "
        f"{_verdict(wall < 3)}.",
        "",
    ]


def _load(step: dict[str, Any]) -> str:
    load = step.get("load_average")
    if not load:
        return ""
    return f"Load average (1 min) when the step began and ended: {load[0]:.2f} and {load[1]:.2f}."


def _scale(sc: dict[str, Any]) -> list[str]:
    lines = [
        "## 4. Scale in one process",
        "",
        "N concurrent sessions of each kind in one process: the bare livekit agent, and the voicefsm",
        "agent opened as `voicefsm start` opens it (`open_session`: its own outbox on the process's",
        "spool, the worker's Prometheus observers), on the same scripted providers and real-time",
        f"simulated audio; {sc['turns_per_session']} turns per session between a short greeting and goodbye. Each run is a",
        "fresh process forked from one preloaded fork server. Each level ran "
        f"{sc['repeats']} times per kind, the kinds",
        f"alternating in an order drawn from seed {sc['seed']} (`--seed {sc['seed']}` repeats it). CPU is process time",
        "(user + system, all threads) over the whole run (start, conversation, goodbye) per turn;",
        "ratios are voicefsm / bare per repeat: median (min–max). Loop lag: how late a 10 ms timer",
        "fires on the sessions' event loop, median / p99 (median over runs).",
        _load(sc),
        "",
        "| N | CPU ms/turn bare | voicefsm | CPU ratio | conversation only | start + close per session | p95 ms bare | voicefsm | p95 ratio | lag ms bare | lag ms voicefsm |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sc["levels"]:
        bare, ours = row["bare"], row["voicefsm"]
        lines.append(
            f"| {row['sessions']} | {bare['cpu_s_per_turn'] * 1000:.1f} | {ours['cpu_s_per_turn'] * 1000:.1f} "
            f"| {_spread(row['cpu_ratio'])} | {_spread(row['converse_cpu_ratio'])} "
            f"| {_spread(row['start_close_cpu_ratio'])} "
            f"| {_f(bare['p95_ms'], 0)} | {_f(ours['p95_ms'], 0)} | {_spread(row['p95_ratio'])} "
            f"| {_f(bare['lag_median_ms'], 1)} / {_f(bare['lag_p99_ms'], 0)} "
            f"| {_f(ours['lag_median_ms'], 1)} / {_f(ours['lag_p99_ms'], 0)} |"
        )
    levels = sc["levels"]
    if sc.get("incomplete_levels"):
        lines += [
            "",
            f"N = {', '.join(map(str, sc['incomplete_levels']))}: a run did not complete within its budget; larger levels were not run.",
        ]
    if levels:
        worst_cpu = max(row["cpu_ratio"]["median"] for row in levels)
        p95_levels = [row for row in levels if row["sessions"] <= 100 and row["p95_ratio"]]
        worst_p95 = max((row["p95_ratio"]["median"] for row in p95_levels), default=None)
        lag_ok = all(
            (row["voicefsm"]["lag_p99_ms"] or 0) <= (row["bare"]["lag_p99_ms"] or 0) * 1.05 + 0.5
            for row in levels
        )
        lines += [
            "",
            f"Targets: CPU/turn ratio ≤ 1.05 at every N (median): {_verdict(worst_cpu <= 1.05)} (worst {worst_cpu:.3f}); "
            f"p95 within 5% of bare up to N = 100: {_verdict(None if worst_p95 is None else worst_p95 <= 1.05)}"
            f" (worst {_f(worst_p95, 3)}); loop lag p99 no worse than bare's: {_verdict(lag_ok)}.",
            "",
        ]
    return lines


def _crossing(figures: dict[str, float | None]) -> str:
    """Where p95 crossed the line; "≥ n" when even the largest level stayed within it."""
    if figures["interpolated"] is None and figures["largest_level"] is not None:
        return f"≥ {figures['largest_level']:.1f}"
    return _f(figures["interpolated"], 1)


def _processes(p: dict[str, Any]) -> list[str]:
    one = p.get("one_session") or {}
    lines = [
        "## 4b. Sessions per core: 1 and 2 worker processes",
        "",
        "The same runs with the sessions spread evenly over 1 or 2 worker processes, forked together",
        "from the fork server, sharing one spool file (as a machine's job processes share the default",
        "spool); each process runs its sessions on one event loop. Not livekit's own job processes,",
        "which need a LiveKit server: each worker here hosts many sessions, as `voicefsm simulate`",
        f"does. {p['repeats']} runs per level and kind, interleaved (seed {p['seed']}); p95 is the median over runs.",
        f"One session alone: p95 bare {_f(one.get('bare', {}).get('p95_ms'), 0)} ms, voicefsm "
        f"{_f(one.get('voicefsm', {}).get('p95_ms'), 0)} ms.",
        _load(p),
        "",
        "| worker processes | sessions | per process | p95 ms bare | voicefsm | CPU ms/turn bare | voicefsm | CPU ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for count, w in p["workers"].items():
        for row in w["levels"]:
            bare, ours = row["bare"], row["voicefsm"]
            lines.append(
                f"| {count} | {row['sessions']} | {row['sessions'] // int(count)} "
                f"| {_f(bare['p95_ms'], 0)} | {_f(ours['p95_ms'], 0)} "
                f"| {bare['cpu_s_per_turn'] * 1000:.1f} | {ours['cpu_s_per_turn'] * 1000:.1f} | {_spread(row['cpu_ratio'])} |"
            )
    lines += [
        "",
        "Sessions per core at a p95 within 10% of one session's: where the p95 crosses that line,",
        "interpolated between the levels around it, and the largest level measured within it; both",
        "divided by the cores the worker processes can use.",
        "",
        "| worker processes | cores | bare, interpolated | voicefsm, interpolated | bare, largest level | voicefsm, largest level |",
        "|---|---|---|---|---|---|",
    ]
    for count, w in p["workers"].items():
        per_core = w["sessions_per_core"]
        lines.append(
            f"| {count} | {w['cores']} | {_crossing(per_core['bare'])} "
            f"| {_crossing(per_core['voicefsm'])} | {_f(per_core['bare']['largest_level'], 1)} "
            f"| {_f(per_core['voicefsm']['largest_level'], 1)} |"
        )
    lines.append("")
    return lines


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        "# voicefsm benchmark results",
        "",
        "Generated by `bash benchmarks/run`"
        + (" --quick (tiny sizes: not representative)" if r.get("quick") else "")
        + f", {m['date']}, in {r.get('total_seconds', 0):.0f} s.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB; Python {m['python']}; {versions}.",
        "Every figure has its baseline measured in the same run. Nothing here is asserted by tests.",
        *(
            f"Measured again on its own (`--only {name}`, the same machine): {name}, {date}."
            for name, date in r.get("remeasured", {}).items()
        ),
        "",
    ]
    s = r["state_ops"]
    ratio = s["ratio_redis_over_voicefsm_median"]
    lines += [
        "## 1. State operation cost",
        "",
        "One lifecycle event: for voicefsm, `Lifecycle.fire` (guards, callbacks, timeline) with its",
        'in-memory history append and outbox hand-off; for the seed\'s "before" design, one `RPUSH` per',
        f"message through redis-py's asyncio client to redis-server {s.get('redis_version')} on 127.0.0.1;",
        "the floor, a hand-written dict FSM appending to a list. Interleaved batches, one process.",
        "",
        "| implementation | events | median µs | p95 µs | p99 µs |",
        "|---|---|---|---|---|",
    ]
    for key, label in (
        ("voicefsm", "voicefsm event + history + outbox hand-off"),
        ("redis_rpush", "Redis-backed state manager (RPUSH per message)"),
        ("dict_fsm", "hand-written dict FSM (floor)"),
    ):
        row = s[key]
        lines.append(
            f"| {label} | {row['events']:,} | {row['median_us']:.2f} | {row['p95_us']:.2f} | {row['p99_us']:.2f} |"
        )
    lines += [
        "",
        f"Redis / voicefsm at the median: **{ratio:.1f}×**; voicefsm / dict FSM: {s['ratio_voicefsm_over_dict_median']:.0f}×.",
        f"Targets: voicefsm ≥ 5× faster than Redis at the median: {_verdict(ratio >= 5)}; "
        f"voicefsm p99 ≤ 100 µs: {_verdict(s['voicefsm']['p99_us'] <= 100)}.",
        "",
    ]
    a = r["added_latency"]
    lines += [
        "## 2. Added turn latency",
        "",
        "End of the user's speech to the first agent audio at the (simulated) speaker, same scripted",
        "STT/LLM/TTS (LLM 150 ms to first token, TTS 80 ms to first byte, 300 ms endpointing), a bare",
        "livekit `AgentSession` agent and the voicefsm agent running side by side, turn for turn.",
        "",
        "| agent | turns | median ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for key in ("bare", "voicefsm"):
        row = a[key]
        lines.append(
            f"| {key} | {row.get('turns', 0)} | {_f(row.get('median_ms'), 1)} | {_f(row.get('p95_ms'), 1)} | {_f(row.get('p99_ms'), 1)} |"
        )
    added, ratio2 = a.get("added_median_ms"), a.get("ratio_median")
    lines += [
        "",
        f"Added at the median: {_f(added, 2)} ms (ratio {_f(ratio2, 4)}). Target ≤ 1 ms added, ratio ≤ 1.01: "
        f"{_verdict(None if added is None else (added <= 1.0 and ratio2 <= 1.01))}.",
        "",
    ]
    if "tool_calls" in r:
        lines += _tool_calls(r["tool_calls"])
    if "flow_steps" in r:
        lines += _flow_steps(r["flow_steps"])
    b = r["backend_isolation"]
    lines += [
        "## 3. Backend isolation",
        "",
        "The voicefsm agent with the reference backend healthy, 2 s slower on every request (a delaying",
        "proxy), and down (nothing listening). Afterwards every spool is drained to the healthy backend",
        "and the stored events are counted.",
        "",
        "| backend | turns | median ms | p95 ms | ratio to healthy |",
        "|---|---|---|---|---|",
    ]
    for key, label in (("healthy", "healthy"), ("slow_2s", "+2 s per request"), ("down", "down")):
        row = b[key]
        lines.append(
            f"| {label} | {row.get('turns', 0)} | {_f(row.get('median_ms'), 1)} | {_f(row.get('p95_ms'), 1)} | {_f(row.get('ratio_median'), 4)} |"
        )
    w = b["writes"]
    worst = max((b[k].get("ratio_median") or 0) for k in ("slow_2s", "down"))
    lines += [
        "",
        f"Writes acknowledged {w['acknowledged']}, delivered {w['delivered']}, lost {w['lost']}.",
        f"Targets: turn latency ratio ≤ 1.02 against healthy: {_verdict(worst <= 1.02)}; zero writes lost: {_verdict(w['lost'] == 0)}.",
        "",
    ]
    if "evals" in r:
        lines += _evals(r["evals"])
    if "scale" in r and "levels" in r["scale"] and "seed" in r["scale"]:
        lines += _scale(r["scale"])
    if "processes" in r:
        lines += _processes(r["processes"])
    o = r["outbox"]
    hand = o["handoff"]["Outbox.submit_event"]
    lines += [
        "## 5. Outbox",
        "",
        "| figure | voicefsm | baseline, same run |",
        "|---|---|---|",
        f"| voice-path hand-off, median / p99 | {hand['median_us']:.2f} / {hand['p99_us']:.2f} µs | `SimpleQueue.put` {o['handoff']['SimpleQueue.put']['median_us']:.2f} µs, `list.append` {o['handoff']['list.append']['median_us']:.2f} µs |",
        f"| spool commits | {o['spool']['outbox_writes_per_s']:,.0f} writes/s | one commit per write: {o['spool']['one_commit_per_write_per_s']:,.0f}/s |",
        f"| turn end to spool commit, one write per {o['paced_commit']['interval_ms']:.0f} ms | median {o['paced_commit']['median_ms']:.2f} ms, p99 {o['paced_commit']['p99_ms']:.2f} ms | |",
    ]
    for db in ("sqlite", "postgresql"):
        if f"delivery_{db}" in o:
            d = o[f"delivery_{db}"]
            lines.append(
                f"| delivery to the reference backend ({db}) | {d['batched_events_per_s']:,.0f} events/s | one event per request: {d['unbatched_events_per_s']:,.0f}/s |"
            )
    lines.append("")
    analysis = Path(__file__).with_name("ANALYSIS.md")
    if analysis.exists() and not r.get("quick"):
        lines += ["## Reading these figures", "", analysis.read_text().strip(), ""]
    return "\n".join(lines) + "\n"
