"""Baselines of Tables 1 and 2 (filled in by the baselines issue)."""
