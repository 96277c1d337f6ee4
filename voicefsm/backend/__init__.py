"""The backend: its wire contract (v1), the client voicefsm uses, and a reference server."""
