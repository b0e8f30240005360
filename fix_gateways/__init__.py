"""Client and venue FIX gateways and the venue simulator (built in a later issue)."""
