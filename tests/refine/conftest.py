"""tests/refine: the independent simulator of tests/sim is imported as ``sim``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
