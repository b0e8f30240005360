"""How Tape runs: the `tape` command (`cli`), the demo day (`demo`), the backtest
runner (`backtest/`: a recorded day in sim time through the production apps on the
stream kit) and the benchmarks (`bench/`: every `tape bench NAME`)."""
