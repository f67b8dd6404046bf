"""phasetrace.background."""
