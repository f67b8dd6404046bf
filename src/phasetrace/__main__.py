"""Allow ``python -m phasetrace``."""

from .cli.main import main

raise SystemExit(main())
