"""voicefsm."""
