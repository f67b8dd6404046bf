"""phasetrace.lattice."""
