"""Logging for one session: static messages, with the session's id and the call site's fields
carried as ``extra`` (never formatted into the message, so no transcript or secret ends up in
it by accident)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

#: Where a component logs: the module's logger, or a session's (:class:`SessionLog`).
Log = logging.Logger | logging.LoggerAdapter[logging.Logger]


class SessionLog(logging.LoggerAdapter[logging.Logger]):
    """A logger adapter that adds the session's fields to each record's own ``extra`` (the
    standard adapter, before Python 3.13, replaces the call site's ``extra`` with its own)."""

    def __init__(self, logger: logging.Logger, fields: Mapping[str, object]) -> None:
        super().__init__(logger, dict(fields))

    def process(
        self,
        msg: Any,  # noqa: ANN401 (logging's own type)
        kwargs: MutableMapping[str, Any],
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs
