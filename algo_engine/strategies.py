"""The strategies the container runs, by algo name (as the OMS accepts them)."""

from __future__ import annotations

from algo_engine.dma import Dma
from algo_engine.vwap.strategy import Vwap

#: algo name -> strategy class
STRATEGIES: dict[str, type[Dma] | type[Vwap]] = {"dma": Dma, "vwap": Vwap}
#: what the snapshot decodes a strategy as (tagged by its "strategy" field)
AnyStrategy = Dma | Vwap
