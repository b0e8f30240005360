"""How Tape runs: the `tape` command, the demo and the day's start/stop jobs."""
