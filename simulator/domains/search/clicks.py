"""The click model: a logistic on each result's features, with a random effect per page.

Real clicks are overdispersed: on TREC 2013's fitting half, 38 % of first
pages get no click while others get three or more, more than independent
per-result draws give (a plain logistic leaves 22 % of simulated pages
unclicked). So each page draws its own effect u ~ N(0, 1), and
P(click) = logistic(intercept + coefficients·x + spread·u): a page whose
searcher is keen, or the whole page looks off, moves together. The
parameters maximise the marginal likelihood (u integrated out by
Gauss–Hermite quadrature), a random-intercept logistic GLMM; `marginal` gives
the probability with u integrated out, for prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)  # for ∫ f(u) φ(u) du
_LOG_WEIGHTS = np.log(_WEIGHTS / _WEIGHTS.sum())
_RIDGE = 1e-2  # a light L2 on the slopes, so that a page of one kind cannot run them off


class PageLogit(BaseModel):
    """Intercept, coefficients, and the spread of the page effect (0: a plain logistic)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    intercept: float
    coefficients: tuple[float, ...]
    spread: float

    @classmethod
    def fit(
        cls, x: Sequence[Sequence[float]], y: Sequence[bool], pages: Sequence[int], width: int
    ) -> PageLogit:
        """Maximum marginal likelihood on rows `x`, outcomes `y`, and each row's page."""
        xs = np.asarray(x, dtype=np.float64).reshape(-1, width)
        ys = np.asarray(y, dtype=np.float64)
        if len(set(ys.tolist())) < 2:
            rate = min(max(float(ys.mean()), 1e-3), 1 - 1e-3) if ys.size else 0.5
            return cls(intercept=float(np.log(rate / (1 - rate))), coefficients=(0.0,) * width,
                       spread=0.0)  # fmt: skip
        _, page_index = np.unique(np.asarray(pages), return_inverse=True)
        n_pages = int(page_index.max()) + 1

        def loss(theta: np.ndarray) -> float:
            b0, b, log_s = theta[0], theta[1 : 1 + width], theta[-1]
            z = (b0 + xs @ b)[:, None] + np.exp(log_s) * _NODES[None, :]
            per_row = ys[:, None] * log_expit(z) + (1 - ys[:, None]) * log_expit(-z)
            per_page = np.zeros((n_pages, len(_NODES)))
            np.add.at(per_page, page_index, per_row)
            marginal = logsumexp(per_page + _LOG_WEIGHTS[None, :], axis=1)
            return float(-marginal.sum() + _RIDGE * (b @ b))

        start = np.zeros(width + 2)
        start[0], start[-1] = np.log(ys.mean() / (1 - ys.mean())), np.log(0.5)
        bounds = [(None, None)] * (width + 1) + [(np.log(1e-3), np.log(10.0))]
        found = minimize(loss, start, method="L-BFGS-B", bounds=bounds)
        theta = found.x
        return cls(intercept=float(theta[0]),
                   coefficients=tuple(float(c) for c in theta[1 : 1 + width]),
                   spread=float(np.exp(theta[-1])))  # fmt: skip

    def p(self, x: np.ndarray, effect: float = 0.0) -> np.ndarray:
        """P(click) of each row of `x` on a page whose effect is `effect` (a N(0, 1) draw)."""
        z = self.intercept + np.asarray(x, dtype=np.float64) @ np.asarray(self.coefficients)
        return np.asarray(expit(z + self.spread * effect))

    def marginal(self, x: np.ndarray) -> np.ndarray:
        """P(click) of each row of `x` with the page effect integrated out."""
        z = self.intercept + np.asarray(x, dtype=np.float64) @ np.asarray(self.coefficients)
        weights = np.exp(_LOG_WEIGHTS)
        return np.asarray(expit(z[:, None] + self.spread * _NODES[None, :]) @ weights)
