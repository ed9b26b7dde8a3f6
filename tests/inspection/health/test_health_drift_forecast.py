"""Drift detectors and the forecast on series whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.health.drift import Cusum, Ewma, PsiWindow, ewma_limit, psi
from inspection.health.forecast import parts_to_limit, theil_sen


def test_ewma_converges_to_a_step_and_its_band_matches_theory() -> None:
    e = Ewma(0.1)
    for _ in range(200):
        e.update(2.0)
    assert e.value == pytest.approx(2.0, abs=1e-6)
    rng = np.random.default_rng(0)
    e, values = Ewma(0.05), []
    for z in rng.standard_normal(50_000):
        values.append(e.update(float(z)))
    # The asymptotic EWMA standard deviation is sqrt(lambda / (2 - lambda)); the 3-sigma band holds ~99.7 %.
    assert np.std(values[1000:]) == pytest.approx(ewma_limit(0.05, 1.0), rel=0.1)
    assert np.mean(np.abs(values[1000:]) < ewma_limit(0.05, 3.0)) > 0.99


@pytest.mark.parametrize("lam", [0.0, -0.1, 1.5])
def test_ewma_rejects_a_bad_lambda(lam: float) -> None:
    with pytest.raises(ValueError, match="lambda"):
        Ewma(lam)


def test_cusum_is_quiet_on_noise_and_signals_a_small_sustained_shift_on_its_side() -> None:
    rng = np.random.default_rng(1)
    c = Cusum(k=0.5, h=12.0)  # the monitor's default
    assert all(c.update(float(z)) == 0 for z in rng.standard_normal(2000))
    c.reset()
    signals = [c.update(float(z) - 1.0) for z in rng.standard_normal(200)]
    first = next(i for i, s in enumerate(signals) if s)
    assert signals[first] == -1 and first < 60  # a 1-sigma drop is found within tens of parts


def test_psi_is_zero_for_equal_distributions_and_grows_with_the_shift() -> None:
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(2)
    ref = rng.normal(0, 1, 5000)
    window = PsiWindow(ref, window=500)
    same = [window.update(float(x)) for x in rng.normal(0, 1, 500)][-1]
    shifted = PsiWindow(ref, window=500)
    moved = [shifted.update(float(x)) for x in rng.normal(1, 1, 500)][-1]
    assert same is not None and same < 0.1
    assert moved is not None and moved > 0.5  # "significant shift" is > 0.25 by convention
    with pytest.raises(ValueError, match="same bins"):
        psi([1, 2], [1, 2, 3])


def test_psi_window_says_nothing_until_it_is_full() -> None:
    window = PsiWindow(np.linspace(0, 1, 100), window=10)
    assert [window.update(0.5) for _ in range(9)] == [None] * 9
    assert window.update(0.5) is not None


def test_theil_sen_ignores_outliers_that_bend_least_squares() -> None:
    x = np.arange(50, dtype=float)
    y = 2.0 * x + 1.0
    y[[5, 17, 33]] = [500.0, -400.0, 900.0]
    slope, intercept = theil_sen(x, y)
    assert slope == pytest.approx(2.0, abs=1e-9)
    assert intercept == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="equal"):
        theil_sen([1, 1, 1], [1, 2, 3])


def test_parts_to_limit_follows_the_trend_towards_the_limit_only() -> None:
    x = list(range(0, 200, 10))
    falling = [100.0 - 0.1 * p for p in x]  # reaches 50 at part 500; last point is part 190 (81.0)
    assert parts_to_limit(x, falling, low=50.0, high=None) == pytest.approx(310.0)
    assert parts_to_limit(x, falling, low=None, high=150.0) is None  # moving away from the only limit
    assert parts_to_limit(x, [100.0] * len(x), low=50.0, high=150.0) is None  # flat: no forecast
    assert parts_to_limit(x, falling, low=90.0, high=None) == 0.0  # already past
    assert parts_to_limit(x[:3], falling[:3], low=50.0, high=None) is None  # too few points
