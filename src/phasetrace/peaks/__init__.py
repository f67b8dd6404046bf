"""phasetrace.peaks."""
