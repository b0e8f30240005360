"""The algo container and its strategies, VWAP first (built in a later issue)."""
