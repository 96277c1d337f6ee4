"""``voicefsm scenario export``: a stored call, printed as a scenario to replay."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from pydantic import TypeAdapter, ValidationError

from voicefsm.cli.common import fail, http_url, settings_or_exit
from voicefsm.settings import embedded_database
from voicefsm.untrusted import Id


def add_scenario_command(commands: Any) -> None:  # noqa: ANN401 (argparse's subparsers)
    """The ``scenario`` command's parser, on ``commands``."""
    scenario = commands.add_parser(
        "scenario",
        help="turn a stored call into a scenario",
        description="Scenarios from stored calls: a call that went wrong becomes a test.",
    )
    scenario_actions = scenario.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = scenario_actions.add_parser(
        "export",
        help="print a stored call as a scenario (YAML) to replay with simulate",
        description="Print the call stored under CONVERSATION_ID as a scenario: the caller's "
        "turns as heard, the tools the model called (arguments; outputs as comments), the "
        "metadata and the end, each turn expecting the tools it called then. Replayed with "
        "`voicefsm simulate --scenario FILE`, it reports where the agent now behaves "
        "differently. Without --backend-url (or VOICEFSM_BACKEND_URL), reads the backend "
        "`simulate` embeds.",
    )
    export.add_argument("conversation_id", metavar="CONVERSATION_ID")
    export.add_argument("--backend-url", type=http_url, help="default: VOICEFSM_BACKEND_URL")
    export.add_argument(
        "--session",
        metavar="SESSION_ID",
        help="this session of the conversation (default: its last)",
    )
    scenario.set_defaults(handler=run_scenario)


def run_scenario(args: argparse.Namespace) -> int:
    from voicefsm.backend.client import BackendClient, backend_http  # noqa: PLC0415
    from voicefsm.errors import BackendError  # noqa: PLC0415
    from voicefsm.simulation.export import ExportError, read_call, scenario_yaml  # noqa: PLC0415
    from voicefsm.simulation.serving import backend_for  # noqa: PLC0415

    command = "scenario export"
    for value, what in ((args.conversation_id, "CONVERSATION_ID"), (args.session, "--session")):
        if value is None:
            continue
        try:
            TypeAdapter(Id).validate_python(value)
        except ValidationError:
            return fail(command, f"{what} is not an id (letters, digits, _ . : -)")
    settings = settings_or_exit()
    if args.backend_url:
        settings = settings.model_copy(update={"backend_url": args.backend_url})
    elif settings.backend_url is None and not embedded_database(settings).exists():
        return fail(
            command,
            "no backend: pass --backend-url, set VOICEFSM_BACKEND_URL, or run "
            "`voicefsm simulate` first (its embedded backend is read by default)",
        )

    async def export(url: str) -> str:
        http = backend_http(url)
        try:
            client = BackendClient(http, token=settings.backend_token)
            call = await read_call(client, args.conversation_id, args.session)
        finally:
            await http.aclose()
        return scenario_yaml(call)

    with backend_for(settings) as url:
        assert url is not None  # noqa: S101 (backend_for yields the embedded one otherwise)
        try:
            text = asyncio.run(export(url))
        except ExportError as exc:
            return fail(command, f"{url}: {exc}")
        except BackendError as exc:
            print(f"voicefsm {command}: {exc}", file=sys.stderr)
            return 1
    sys.stdout.write(text)
    return 0
