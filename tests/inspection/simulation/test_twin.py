"""The process twin: parameters → defect probabilities, drift, noise, refusals, rendering."""

from __future__ import annotations

import pytest

from inspection.process import WriteRejected
from inspection.simulation.twin import ProcessTwin


@pytest.mark.parametrize(("process", "parameter", "up", "down"), [
    ("solder", "paste_volume_pct", "bridge", "insufficient"),
    ("solder", "reflow_peak_c", "solder_ball", "insufficient"),
    ("paint", "fluid_flow_cc_min", "run", "thin_coverage"),
    ("paint", "booth_humidity_pct", "crater", "inclusion"),
])
def test_probabilities_move_the_way_the_shop_floor_knows(process: str, parameter: str, up: str, down: str) -> None:
    twin = ProcessTwin(process, drift={})
    nominal = {n: i.nominal for n, i in twin.parameters().items()}
    scale = twin.parameters()[parameter].scale
    low = twin.probabilities(nominal | {parameter: nominal[parameter] - 2 * scale})
    high = twin.probabilities(nominal | {parameter: nominal[parameter] + 2 * scale})
    assert high[up] > 2 * low[up]
    assert low[down] > 2 * high[down]


def test_drift_raises_the_defect_rate_and_runs_repeat_with_the_seed() -> None:
    def run(seed: int) -> list[tuple[str, ...]]:
        twin = ProcessTwin("solder", seed=seed, drift={"paste_volume_pct": -2.0})
        return [twin.next_part().defects for _ in range(1500)]

    first, again, other = run(5), run(5), run(6)
    assert first == again
    assert first != other
    early = sum(bool(d) for d in first[:300]) / 300
    late = sum(bool(d) for d in first[-300:]) / 300
    assert late > early + 0.2
    assert sum("insufficient" in d for d in first[-300:]) > sum("bridge" in d for d in first[-300:])


def test_actuals_are_setpoint_plus_drift_plus_noise() -> None:
    twin = ProcessTwin("paint", seed=1, drift={"fluid_flow_cc_min": -10.0}, noise=0.0)
    for _ in range(200):
        twin.next_part()
    assert twin.read_actuals()["fluid_flow_cc_min"] == pytest.approx(250.0 - 20.0)
    twin.write_setpoints({"fluid_flow_cc_min": 270.0})
    assert twin.read_actuals()["fluid_flow_cc_min"] == pytest.approx(250.0)
    noisy = ProcessTwin("paint", seed=1, noise=0.2)
    assert noisy.read_actuals()["robot_speed_mm_s"] != pytest.approx(400.0)


@pytest.mark.parametrize(("values", "message"), [
    ({"paste_volume_pct": 150.0}, "outside the process range 60..140"),
    ({"paste_volume": 100.0}, "unknown parameter 'paste_volume'"),
    ({"reflow_peak_c": float("nan")}, "outside the process range"),
    ({"reflow_peak_c": "hot"}, "expected a number"),
])
def test_twin_refuses_bad_setpoints_and_writes_nothing(values: dict, message: str) -> None:
    twin = ProcessTwin("solder")
    before = twin.read_setpoints()
    with pytest.raises(WriteRejected, match=message):
        twin.write_setpoints({"squeegee_pressure_kg": 7.0, **values})
    assert twin.read_setpoints() == before


def test_unknown_process_and_unknown_drift_parameter_are_clear_errors() -> None:
    with pytest.raises(WriteRejected, match="unknown process 'glue'"):
        ProcessTwin("glue")
    with pytest.raises(WriteRejected, match=r"drift names unknown parameters \['paste'\]"):
        ProcessTwin("solder", drift={"paste": 1.0})


def test_rendered_parts_show_the_defects_the_twin_decided() -> None:
    twin = ProcessTwin("paint", seed=2, setpoints={"fluid_flow_cc_min": 170.0})
    decided, drawn = set(), set()
    good_parts_clean = True
    for _ in range(40):
        outcome = twin.next_part()
        part = twin.render(outcome, size=(96, 96))
        assert part.image.shape == (96, 96, 3)
        # A defect may be cropped out of view, never invented.
        assert set(part.class_names) <= set(outcome.defects)
        good_parts_clean &= outcome.defective or part.is_good
        decided |= set(outcome.defects)
        drawn |= set(part.class_names)
    assert good_parts_clean
    assert "thin_coverage" in drawn
    assert len(drawn) >= len(decided) - 1


def test_twin_camera_paces_ends_and_renders_with_the_setpoints_in_force() -> None:
    from inspection.camera import EndOfStream
    from inspection.errors import CameraError
    from inspection.simulation.twin_camera import Options, create

    camera = create(Options(process="paint", seed=3, width=64, height=64, max_parts=3, rate_hz=50))
    with pytest.raises(CameraError, match="not open"):
        camera.read(0.1)
    with camera:
        frames = [camera.read(1.0) for _ in range(3)]
        with pytest.raises(EndOfStream):
            camera.read(1.0)
    assert [f.part_id for f in frames] == ["paint-000000", "paint-000001", "paint-000002"]
    assert frames[0].image.shape == (64, 64, 3) and frames[0].source == "process-twin"
    assert camera.twin.index == 3
