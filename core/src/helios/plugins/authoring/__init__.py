"""Tools for plug-in authors: ``helios plugins new`` and ``helios plugins validate``."""
