from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.domain.permissions import Role, User
from inspection.domain.recipe import ClassRule, Recipe
from inspection.domain.types import Box, Detection, Frame, FrameFailure, Inspection, Reason, Verdict, VerdictStatus
from inspection.errors import DataError
from inspection.records.labels import Label, LabelBook
from inspection.records.samples import SampleKeeper, SamplePolicy
from inspection.records.store import ImageArchive, Store

RECIPE = Recipe(name="r", default=ClassRule(min_confidence=0.5))

EVE = User("eve", Role.ENGINEER)


def part(seq: int, confidence: float | None = None, failed: bool = False) -> Inspection:
    frame = Frame(np.full((16, 16, 3), seq % 255, np.uint8), "cam0", seq, 1.0 + seq)
    dets = () if confidence is None else (Detection("bridge", confidence, Box(2, 2, 8, 8)),)
    if failed:
        return Inspection(frame, dets, Verdict(VerdictStatus.FAIL, (Reason("defect", "bridge", "bridge"),)), dets)
    return Inspection(frame, dets, Verdict.passed())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "s.db") as s:
        yield s


def test_policy_keeps_failures_uncertain_and_some_passes(store: Store, tmp_path: Path) -> None:
    keeper = SampleKeeper(store, tmp_path / "samples", RECIPE, SamplePolicy(pass_rate=0.1, uncertain_margin=0.15))
    assert keeper.decide(part(0, 0.9, failed=True)).reason == "failure"
    assert keeper.decide(part(1, 0.45)).reason == "uncertain"  # just below the 0.5 threshold
    assert keeper.decide(part(2, 0.2)) is None or keeper.decide(part(2, 0.2)).reason == "pass_sample"
    failure = Inspection(FrameFailure("cam0", 3, 1.0, "decode_error", "x"), (), Verdict.error("decode_error", "x"))
    assert keeper.decide(failure) is None  # no image to learn from
    kept = sum(keeper.decide(part(i)) is not None for i in range(2000))
    assert 120 < kept < 280  # ~10 % of passes


def test_review_queue_orders_by_value_and_caps_hold(store: Store, tmp_path: Path) -> None:
    keeper = SampleKeeper(store, tmp_path / "samples", RECIPE, SamplePolicy(max_samples=3))
    for i in range(3):
        keeper.consider(part(i, 0.9, failed=True), i + 1)
    keeper.consider(part(10, 0.48), 11)
    keeper.mark_override(2)
    queue = keeper.review_queue()
    assert len(queue) == 3 and keeper.usage()[0] == 3
    assert [q["reason"] for q in queue] == ["override", "uncertain", "failure"]
    assert len(list((tmp_path / "samples").iterdir())) == 3  # the evicted sample's file is gone too


def test_caps_hold_over_many_parts_without_counting_the_table_each_time(store: Store, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The keeper keeps its own count between recounts; the caps must hold exactly all the same, and a
    sample someone else deleted is noticed at the next recount."""
    import inspection.records.samples as samples

    monkeypatch.setattr(samples, "RECOUNT_EVERY", 7)
    keeper = SampleKeeper(store, tmp_path / "samples", RECIPE, SamplePolicy(max_samples=20))
    counts = []
    monkeypatch.setattr(keeper, "usage", lambda real=keeper.usage: counts.append(1) or real())
    for i in range(60):
        keeper.consider(part(i, 0.9, failed=True), i + 1)
        assert store.query("select count(*) as n from samples")[0]["n"] == min(i + 1, 20)
    assert len(counts) <= 60 // 7 + 1  # recounts, not a count per part
    store.db.conn.execute("delete from samples where id in (select id from samples limit 5)")
    for i in range(60, 74):  # two recounts at the most
        keeper.consider(part(i, 0.9, failed=True), i + 1)
    assert store.query("select count(*) as n from samples")[0]["n"] == 20  # refilled after the recount
    size = next((tmp_path / "samples").iterdir()).stat().st_size
    by_size = SampleKeeper(store, tmp_path / "samples2", RECIPE, SamplePolicy(max_mb=5.5 * size / 1e6))
    for i in range(100, 120):
        by_size.consider(part(i, 0.9, failed=True), i + 1)
    assert len(list((tmp_path / "samples2").iterdir())) == 5


def test_labels_and_review_decisions(store: Store, tmp_path: Path) -> None:
    keeper = SampleKeeper(store, tmp_path / "samples", RECIPE)
    inspection = part(0, 0.9, failed=True)
    row_id = store.record(inspection)
    sample_id = keeper.consider(inspection, row_id)
    book = LabelBook(store)
    book.review(sample_id, "accepted", EVE)
    assert [(lab.class_name, lab.author) for lab in book.labels(sample_id)] == [("bridge", "model")]
    book.replace(sample_id, [Label("void", Box(1, 1, 5, 5))], EVE)
    labels = book.labels(sample_id)
    assert [(lab.class_name, lab.author) for lab in labels] == [("void", "eve")]
    history = store.query("select class_name, deleted from labels order by id")
    assert history == [{"class_name": "bridge", "deleted": 1}, {"class_name": "void", "deleted": 0}]
    with pytest.raises(DataError, match="sample 999 does not exist"):
        book.review(999, "rejected", EVE)


def test_operators_may_not_review_or_label(store: Store, tmp_path: Path) -> None:
    from inspection.domain.permissions import AccessDenied

    keeper = SampleKeeper(store, tmp_path / "samples", RECIPE)
    inspection = part(0, 0.9, failed=True)
    sample_id = keeper.consider(inspection, store.record(inspection))
    operator = User("otto", Role.OPERATOR)
    with pytest.raises(AccessDenied, match="otto \\(operator\\) may not"):
        LabelBook(store).review(sample_id, "accepted", operator)
    with pytest.raises(AccessDenied):
        LabelBook(store).add(sample_id, Label("void", Box(1, 1, 2, 2)), operator)
    assert store.query("select status from samples")[0]["status"] == "pending"


def test_a_failure_already_archived_as_png_is_linked_not_encoded_again(tmp_path: Path) -> None:
    """keep_images: failures (the default) archives every failed part as PNG; its sample shares those bytes."""
    with Store(tmp_path / "a.db", ImageArchive(tmp_path / "images", keep="failures")) as archived_store:
        keeper = SampleKeeper(archived_store, tmp_path / "samples", RECIPE)
        failed = part(7, 0.9, failed=True)
        row_id = archived_store.record(failed)
        sample_id = keeper.consider(failed, row_id)
        sample = archived_store.query("select image_path, bytes from samples where id = ?", [sample_id])[0]
        image = archived_store.query("select image_path from inspections where id = ?", [row_id])[0]["image_path"]
        kept, archive = Path(sample["image_path"]), Path(image)
        assert kept != archive and kept.stat().st_ino == archive.stat().st_ino  # one file on disk, two names
        assert sample["bytes"] == archive.stat().st_size
        archive.unlink()  # the archive's retention deleting its copy must not take the sample with it
        assert np.array_equal(cv2.imread(str(kept)), failed.frame.image)

        passed = part(8, 0.48)  # uncertain pass, not archived: encoded from the frame
        sample_id = keeper.consider(passed, archived_store.record(passed))
        kept = Path(archived_store.query("select image_path from samples where id = ?", [sample_id])[0]["image_path"])
        assert np.array_equal(cv2.imread(str(kept)), passed.frame.image)


def test_a_failure_archived_as_bmp_is_linked_too(tmp_path: Path) -> None:
    """store.image_format: bmp (the cheap lossless archive): the sample shares the BMP, no PNG encode."""
    with Store(tmp_path / "a.db", ImageArchive(tmp_path / "images", keep="failures", image_format="bmp")) as store:
        keeper = SampleKeeper(store, tmp_path / "samples", RECIPE)
        failed = part(7, 0.9, failed=True)
        row_id = store.record(failed)
        kept = Path(store.query("select image_path from samples where id = ?",
                                [keeper.consider(failed, row_id)])[0]["image_path"])
        archive = Path(store.query("select image_path from inspections where id = ?", [row_id])[0]["image_path"])
        assert kept.suffix == ".bmp" and kept.stat().st_ino == archive.stat().st_ino
        assert np.array_equal(cv2.imread(str(kept)), failed.frame.image)
