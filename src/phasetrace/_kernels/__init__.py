"""phasetrace._kernels."""
