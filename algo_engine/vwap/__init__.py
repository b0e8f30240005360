"""The VWAP strategy: a schedule from the volume curve, revised by the day's real
volume, worked passive first. `schedule` holds its arithmetic."""
