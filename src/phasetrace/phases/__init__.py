"""phasetrace.phases."""
