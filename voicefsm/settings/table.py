"""The settings as the README shows them: generated here, checked against the README by a test."""

from __future__ import annotations

from pydantic.fields import FieldInfo

from voicefsm.settings.durations import bounds
from voicefsm.settings.model import Settings
from voicefsm.settings.names import env_name

_COMPUTED = {
    "data_dir": "`<user data dir>/voicefsm`",
    "spool_path": "`<data dir>/outbox.sqlite3`",
}


def _default(name: str, field: FieldInfo) -> str:
    if field.default_factory is not None:
        return _COMPUTED.get(name, "computed")
    value = field.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return "empty"
    return f"`{value}`"


def _number(value: float) -> str:
    return f"{value:g}"


def _range(name: str, field: FieldInfo) -> str:
    """``seconds, > 0 to 60``: the unit and the bounds a value must keep, when it has any."""
    low, high, inclusive = bounds(field)
    unit = "seconds" if name.endswith("_s") else ""
    if low is None and high is None:
        return f" ({unit})" if unit else ""
    if low is None:
        span = f"at most {_number(high)}"  # type: ignore[arg-type]
    else:
        start = _number(low) if inclusive else f"> {_number(low)}"
        span = f"{start} to {_number(high)}" if high is not None else f"at least {start}"
        if not inclusive and high is None:
            span = start
    return f" ({unit + ', ' if unit else ''}{span})"


def settings_table() -> str:
    """Every setting as a Markdown table (variable, default, meaning and bounds): what the
    README shows, checked against this code by a test."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or name.replace("_", " ")) + _range(name, field)
        rows.append(f"| `{env_name(name)}` | {_default(name, field)} | {meaning} |")
    return "\n".join(rows) + "\n"
