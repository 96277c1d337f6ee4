"""``python -m voicefsm`` runs the command line."""

import sys

from voicefsm.cli import main

sys.exit(main())
