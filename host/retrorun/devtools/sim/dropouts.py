"""Correlated dropouts: a two-state Gilbert-Elliott channel per sensor.

In the good state a reading is kept, in the bad state it is lost; the state changes from
reading to reading, good -> bad with probability p, bad -> good with probability r. The
stationary loss rate is p / (p + r) and a burst of lost readings lasts 1 / r readings on
average (geometric). Configured by the mean loss rate and the mean burst length (readings).
"""

from __future__ import annotations


class GilbertElliott:
    """Per-reading loss with bursts: `lost(rnd)` advances one reading and says if it is lost."""

    def __init__(self, loss_rate: float, mean_burst: float):
        if not 0.0 <= loss_rate < 1.0:
            raise ValueError("loss_rate must be in [0, 1)")
        if mean_burst < 1.0:
            raise ValueError("mean_burst must be >= 1 reading")
        self.loss_rate = loss_rate
        self.mean_burst = mean_burst
        self.r = 1.0 / mean_burst  # bad -> good
        self.p = self.r * loss_rate / (1.0 - loss_rate) if loss_rate else 0.0  # good -> bad
        self.bad = False

    def lost(self, rnd) -> bool:
        """Advance one reading (drawing one number from `rnd`); True when it is lost."""
        u = rnd.random()
        if self.bad:
            self.bad = u >= self.r
        else:
            self.bad = u < self.p
        return self.bad
