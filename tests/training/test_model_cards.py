"""Every shipped detector's card says, in a field a script can read, which input the model expects."""

from __future__ import annotations

import json
from pathlib import Path

from training.train import ModelCard, write_card

MODELS = Path(__file__).resolve().parents[2] / "inspection" / "demo" / "models"
INPUTS = {"image", "golden_composite"}


def test_every_shipped_detector_card_names_its_input() -> None:
    cards = sorted(MODELS.glob("*.json"))
    assert {c.stem for c in cards} >= {"paint_yolov8n", "pcb_yolov8n", "solder_yolov8n", "steel_yolov8n"}
    for path in cards:
        card = json.loads(path.read_text())
        assert card.get("input") in INPUTS, f"{path.name}: input {card.get('input')!r}, expected one of {INPUTS}"
        ModelCard(**card)  # the card still loads as what training writes
    assert json.loads((MODELS / "pcb_yolov8n.json").read_text())["input"] == "golden_composite"
    assert json.loads((MODELS / "paint_yolov8n.json").read_text())["input"] == "image"
    assert json.loads((MODELS / "steel_yolov8n.json").read_text())["input"] == "image"


def test_a_written_card_keeps_its_input(tmp_path: Path) -> None:
    card = ModelCard("m.pt", "detect", ["a"], "d.yaml", "v1", "yolov8n.yaml", 1, 320, 16, "cpu", 1.0, "cmd",
                     input="golden_composite")
    json_path, md_path = write_card(tmp_path / "m.pt", card, portable=True)
    assert json.loads(json_path.read_text())["input"] == "golden_composite"
    assert "- input: golden_composite" in md_path.read_text()
