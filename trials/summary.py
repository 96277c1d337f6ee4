"""What every reliability trial reports, and the summary table the full run prints.

A trial group counts writes the way Jepsen histories do: *acknowledged* (committed to the spool,
as the writer saw it), *delivered* (present in the backend's database), *lost* (acknowledged but
absent), *duplicated* (applied more than once) and *invented* (in the database but never
acknowledged or spooled). Hostile-input groups count the inputs tried and the crashes (a 500, an
exception escaping, a session that did not exit). Any loss, duplicate, invention, crash or
failed check makes the group fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class GroupResult:
    group: str
    trials: int = 0
    acknowledged: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    invented: int = 0
    faults: int = 0
    inputs: int = 0
    crashes: int = 0
    #: Checks that failed, each a sentence naming what and where (empty when all held).
    failures: list[str] = field(default_factory=list)
    #: Figures worth reading next to the counts (latency ratios, timings, seeds).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bad = self.lost + self.duplicated + self.invented + self.crashes
        return bad == 0 and not self.failures

    def count_session(self, figures: dict[str, int], problems: list[str]) -> None:
        """One session trial, with one fault: its writes' figures
        (:meth:`trials.support.SessionAccount.counted`) and what its checks found."""
        self.trials += 1
        self.faults += 1
        for name, value in figures.items():
            setattr(self, name, getattr(self, name) + value)
        self.failures.extend(problems)

    def check(self, condition: bool, failure: str) -> None:
        """Record ``failure`` unless ``condition`` holds (a trial keeps going to count the rest)."""
        if not condition:
            self.failures.append(failure)

    def assert_ok(self) -> None:
        """For the CI representatives: fail with every broken promise listed."""
        problems = list(self.failures)
        for name in ("lost", "duplicated", "invented", "crashes"):
            if getattr(self, name):
                problems.append(f"{getattr(self, name)} {name}")
        assert not problems, f"{self.group}: " + "; ".join(problems)


_COLUMNS = (
    ("group", "group"),
    ("trials", "trials"),
    ("acked", "acknowledged"),
    ("delivered", "delivered"),
    ("lost", "lost"),
    ("dup", "duplicated"),
    ("invented", "invented"),
    ("faults", "faults"),
    ("inputs", "inputs"),
    ("crashes", "crashes"),
)


def table(results: Iterable[GroupResult]) -> str:
    """A Markdown table: one row per group, a verdict column, then each group's notes."""
    rows = list(results)
    lines = [
        "| " + " | ".join(title for title, _ in _COLUMNS) + " | verdict |",
        "|" + "---|" * (len(_COLUMNS) + 1),
    ]
    for result in rows:
        cells = [str(getattr(result, name)) for _, name in _COLUMNS]
        lines.append("| " + " | ".join(cells) + f" | {'ok' if result.ok else 'FAILED'} |")
    for result in rows:
        for line in result.failures:
            lines.append(f"- **{result.group} FAILED**: {line}")
        for line in result.notes:
            lines.append(f"- {result.group}: {line}")
    return "\n".join(lines)
