"""The cluster tests reuse the process tests' helpers (process_http) and test device (counter@1.0)."""

import sys
from pathlib import Path

PROCESSES = str(Path(__file__).parent.parent / "processes")
if PROCESSES not in sys.path:
    sys.path.insert(0, PROCESSES)
