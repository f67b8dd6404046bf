"""phasetrace.io."""
