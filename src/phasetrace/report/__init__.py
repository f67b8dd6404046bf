"""phasetrace.report."""
