"""Repository tooling used by noxfile.py and the release script (not shipped in any wheel)."""
