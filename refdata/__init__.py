"""Security master, venues, statistics and volume curves (built in a later issue)."""
