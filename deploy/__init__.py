"""How Tape runs: the `tape` command (`cli`), the demo day (`demo`), the day's topology
(`topology`: its processes, and on a multi-host day its hosts and the channels between
them) and jobs (`day`, under supervisord: `supervise`), the backtest runner
(`backtest/`: a recorded day in sim time through the production apps on the stream
kit), the benchmarks (`bench/`: every `tape bench NAME`) and the network lab of the
multi-host tests and `tape bench hosts` (`netlab`: hosts as network namespaces)."""
