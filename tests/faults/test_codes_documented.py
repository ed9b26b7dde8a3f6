"""The reason-code and alarm tables in docs/reliability.md are the ones in the code (inspection.domain.codes)."""

from __future__ import annotations

from pathlib import Path

from inspection.domain.codes import AlarmKind, ReasonCode, alarm_title

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def test_every_reason_code_and_alarm_kind_is_documented_with_its_number_and_title() -> None:
    text = DOC.read_text(encoding="utf-8")
    for code in ReasonCode:
        assert f"| `{code.value}` | {code.plc_error} | {code.title} |" in text, code
    for kind in AlarmKind:
        assert f"| `{kind.value}` | {kind.title} |" in text, kind


def test_unknown_alarm_kinds_get_a_readable_title() -> None:
    assert alarm_title("output_error") == "PLC / reject output lost"
    assert alarm_title("mqtt_broker_lost") == "Mqtt broker lost"
