"""Exposure channels: the doors a session opens by besides the recommender's page.

- `config`: the doors and their rates (`ExposureConfig`), recorded in the manifest;
- `model`: the ledger of who rated what when, and each door's item distribution;
- `fit`: intent, the mix and the word-of-mouth window, fitted on train;
- `social`: the friendship graph (built by homophily, or read) and its measures;
- `runtime`: the doors while a run is going (`Exposure`).
"""

from simulator.domains.recsys.exposure.config import CHANNELS, OUTSIDE, ExposureConfig, IntentParams
from simulator.domains.recsys.exposure.fit import ExposureFit
from simulator.domains.recsys.exposure.runtime import Exposure

__all__ = ["CHANNELS", "OUTSIDE", "Exposure", "ExposureConfig", "ExposureFit", "IntentParams"]
