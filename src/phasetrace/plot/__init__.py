"""phasetrace.plot."""
