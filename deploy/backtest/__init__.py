"""tape backtest: a recorded day run in sim time through the OMS, the algo engine and the
venue simulator's fill model."""
