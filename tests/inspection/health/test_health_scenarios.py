"""Short versions of the health scenarios: the real demo model and judge on the process twin's images.

The degradation runs 4-6x faster than in `station health simulate` (docs/health.md has the full-length
leads), and a run stops one part after the first escape caused by the degradation. Each is a few
hundred parts: about 10-20 s of CPU."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.health.kinds import HealthKind
from inspection.health.monitor import HealthConfig
from inspection.simulation.health_scenarios import (
    SCENARIOS,
    degrade,
    load_demo_inspector,
    reliably_caught,
    simulate_health,
)

pytestmark = pytest.mark.slow

SHORT = {"onset": 250, "model_every": 20, "pool": 40}


@pytest.fixture(scope="module")
def inspector():  # type: ignore[no-untyped-def]
    return load_demo_inspector("solder")


@pytest.mark.parametrize("scenario", ["defocus", "dimming"])
def test_a_degrading_station_warns_before_the_first_escape(scenario: str, inspector) -> None:  # type: ignore[no-untyped-def]
    speed = {"defocus": 6, "dimming": 4}[scenario]  # a short run, yet the escapes come from the degradation
    run = simulate_health(scenario, 2500, rate=speed * SCENARIOS[scenario].rate, inspector=inspector,
                          config=HealthConfig(learn_parts=200), stop_after_escape=1, **SHORT)
    assert run.false_warnings == 0, run.report()
    assert run.first_escape is not None, run.report()  # the degradation does make defects escape
    assert run.first_warning is not None and run.lead is not None and run.lead > 0, run.report()
    assert run.first_warning.kind is {"defocus": HealthKind.FOCUS, "dimming": HealthKind.LIGHT}[scenario]


@pytest.mark.parametrize(("scenario", "kind", "by_part"), [("shift", HealthKind.REGISTRATION, 900),
                                                           ("material", HealthKind.APPEARANCE, 900)])
def test_a_moving_camera_and_a_new_material_are_named(scenario: str, kind: HealthKind, by_part: int,
                                                      inspector) -> None:  # type: ignore[no-untyped-def]
    """These warn with the right cause. Their leads are in docs/health.md: the registration and colour
    signals smooth slowly (λ = 0.01), so a short, sped-up run cannot measure a lead for them."""
    run = simulate_health(scenario, by_part, rate=4 * SCENARIOS[scenario].rate, inspector=inspector,
                          config=HealthConfig(learn_parts=200), **SHORT)
    assert run.false_warnings == 0, run.report()
    assert run.first_warning is not None and run.first_warning.kind is kind, run.report()


def test_a_catch_lost_to_a_one_pixel_nudge_is_borderline_not_reliable() -> None:
    """An escape counts as caused by the degradation only when the clean part was caught reliably."""
    import numpy as np

    from inspection.domain.types import VerdictStatus

    def bright_centre(image: np.ndarray) -> tuple[VerdictStatus, float]:
        caught = image[30, 30].min() > 200
        return (VerdictStatus.FAIL if caught else VerdictStatus.PASS), 0.9

    blob = np.full((64, 64, 3), 128, np.uint8)
    blob[20:40, 20:40] = 250
    speck = np.full((64, 64, 3), 128, np.uint8)
    speck[30, 30] = 250
    assert reliably_caught(bright_centre, blob)
    assert not reliably_caught(bright_centre, speck)


def test_a_stable_station_gives_no_warning(inspector) -> None:  # type: ignore[no-untyped-def]
    run = simulate_health("stable", 900, inspector=inspector, config=HealthConfig(learn_parts=200), **SHORT)
    assert run.false_warnings == 0 and run.warnings == [], run.report()
    assert "false warnings = 0" in run.report()
    assert run.signal_us > 0 and run.escapes == 0


def test_degradations_do_what_they_say() -> None:
    import numpy as np

    image = np.full((64, 64, 3), 128, np.uint8)
    image[20:40, 20:40] = 250
    assert degrade(image, "stable", 5.0) is image and degrade(image, "defocus", 0.0) is image
    assert degrade(image, "dimming", 0.25).max() == round(250 * 0.75)
    shifted = degrade(image, "shift", 4.0)
    assert (shifted[:, :4] == 40).all() and (shifted[:2] == 40).all() and shifted[22, 24:44].min() == 250
    assert degrade(image, "shift", 0.4) is image  # less than half a pixel: the camera has not moved a pixel yet
    assert degrade(image, "defocus", 2.0)[30, 20].max() < 250
    material = degrade(image, "material", 1.0).astype(int)
    assert material[..., 2].mean() > material[..., 0].mean() + 30
    with pytest.raises(ValueError, match="expected one of"):
        degrade(image, "fog", 1.0)


def test_the_cli_rejects_a_scenario_that_starts_before_its_baseline() -> None:
    result = CliRunner().invoke(station, ["health", "simulate", "--scenario", "defocus", "--parts", "10",
                                          "--onset", "40"])
    assert result.exit_code == 2 and "must begin after the baseline" in result.output
