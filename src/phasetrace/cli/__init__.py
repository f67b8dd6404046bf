"""phasetrace.cli."""
