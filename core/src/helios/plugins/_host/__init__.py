"""The plug-in host's machinery: discovery, manifests, checks, loading (private)."""
