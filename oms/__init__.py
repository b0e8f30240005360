"""The OMS: the book of record for parent and child orders (built in a later issue)."""
