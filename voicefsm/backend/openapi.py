"""The OpenAPI document of contract v1, as the reference server generates it.

It is committed next to this module (``openapi.json``) for clients in other languages and for
contract testing; a test fails when the server's document drifts from the committed one.
"""

from __future__ import annotations

import json
from pathlib import Path

from voicefsm.backend.server.app import create_app

COMMITTED = Path(__file__).with_name("openapi.json")


def openapi_document() -> str:
    # Building the app opens no connection, so any URL serves to describe it.
    app = create_app("sqlite:///:memory:")
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
