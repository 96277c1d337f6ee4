"""Example agents built on voicefsm's public API, run by ``voicefsm start|simulate`` when no
``--agent`` is given."""
