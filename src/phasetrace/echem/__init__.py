"""phasetrace.echem."""
