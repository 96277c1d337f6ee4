"""Speech and language providers: the real plugins (from settings) and offline scripted ones."""
