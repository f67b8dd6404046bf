"""phasetrace.transitions."""
