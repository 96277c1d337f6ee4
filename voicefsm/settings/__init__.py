"""Every knob voicefsm has, in one place: its default, its environment variable, its unit and
its bounds; and the checks that run before anything starts.

Settings come from the environment (and a ``.env`` file, UTF-8): ``VOICEFSM_<FIELD>`` for each
field, except the vendors' and LiveKit's own names, which are read as those tools document them
(``LIVEKIT_URL``, ``DEEPGRAM_API_KEY``, ``ELEVEN_API_KEY``…). Durations are seconds, in fields
ending in ``_s``, finite and bounded. Secrets are ``SecretStr``: they print as ``**********`` in
reprs, logs and errors. Tests and embedders pass overrides: ``load_settings(flush_deadline_s=2.0)``.

``model`` holds the fields, ``durations`` the one rule every duration keeps, ``names`` the
variables (and the unknown ``VOICEFSM_*`` ones), ``loading`` reads them, ``checks`` says what a
worker lacks, ``paths`` readies the directories, ``table`` draws the README's table.
"""

from __future__ import annotations

from voicefsm.settings.checks import (
    check_llm,
    check_providers,
    check_worker,
    provider_problems,
    worker_problems,
)
from voicefsm.settings.loading import check_dotenv, load_settings, read_settings
from voicefsm.settings.model import Settings, default_data_dir
from voicefsm.settings.names import env_name, env_names, warn_unknown_names
from voicefsm.settings.paths import (
    data_directory,
    embedded_database,
    private_directory,
    spool_directory,
)
from voicefsm.settings.table import settings_table

__all__ = [
    "Settings",
    "check_dotenv",
    "check_llm",
    "check_providers",
    "check_worker",
    "data_directory",
    "default_data_dir",
    "embedded_database",
    "env_name",
    "env_names",
    "load_settings",
    "private_directory",
    "provider_problems",
    "read_settings",
    "settings_table",
    "spool_directory",
    "warn_unknown_names",
    "worker_problems",
]
