"""Database writer and end-of-day reports (built in a later issue)."""
