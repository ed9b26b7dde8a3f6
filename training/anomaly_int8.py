"""Opt-in INT8 for the anomaly model's OpenVINO export (NNCF), gated on image AUROC of held-out images.

Only the feature extractor's blocks (the EfficientNet-Lite0 trunk, ops named `/features/blocks...`) are
quantized, calibrated on good images. The input padding and the stem convolution stay float32: quantizing
the (standardized) input image to 8 bits moved image scores by up to 43 % and cost 0.065 image AUROC on the
paint set, with the stem in float 7 % and 0.003 (docs/models.md). The nearest-neighbour search against the
memory bank, the map upsampling and the blur stay float32 too, so the distances keep the scale the
threshold was chosen on. Activation ranges are the calibration set's global min/max; still, what lies far
beyond the good parts' range saturates, so a strong defect scores lower in INT8 (on the tiny test surfaces
a near-black blob by ~40 %, on the paint panels the defective ones by ~0.5 %) — hence the gate. With `search=True`
the distance matrix product is quantized as well (measured in docs/models.md, not the default).

The gate scores held-out good and defective images with the float32 export and the INT8 one in the same
process and refuses the INT8 file (removes it, raises) when image AUROC drops by more than `tolerance`, or
when the escape or false-reject rate at the model's threshold (the float32 one, which the INT8 file keeps)
rises by more than `rate_tolerance`: INT8 moves good scores by a few per cent, and a threshold fitted
tightly above the good scores then rejects good parts although the ranking (AUROC) is intact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from inspection.anomaly.model import AnomalyMeta, check_image, preprocess_windows
from inspection.anomaly.runtime import META_KEY, AnomalyRuntime
from inspection.errors import DataError, StationError

__all__ = ["DEFAULT_RATE_TOLERANCE", "DEFAULT_TOLERANCE", "Int8Report", "export_anomaly_int8", "int8_path",
           "quantize_anomaly", "scorer_ignored_names"]

DEFAULT_TOLERANCE = 0.01  # largest image-AUROC drop (absolute) accepted for the INT8 export
DEFAULT_RATE_TOLERANCE = 0.05  # largest rise of the escape or false-reject rate at the model's threshold
_SEARCH_OPS = ("MatMul",)  # the patches × memory-bank product, quantized only with search=True


def int8_path(fp32_xml: Path) -> Path:
    return fp32_xml.with_name(fp32_xml.stem + "_int8.xml")


def scorer_ignored_names(model: object, search: bool = False) -> list[str]:
    """Friendly names of the ops kept in float: the input padding and stem, and everything outside the
    feature extractor (the kNN search, upsampling, blur, score), except the bank's MatMul when `search`."""
    names = []
    for op in model.get_ordered_ops():  # type: ignore[attr-defined]
        name, kind = op.get_friendly_name(), op.get_type_name()
        in_features = name.startswith("/features/") and not name.startswith(("/features/stem/", "/features/Pad"))
        if in_features or kind in ("Constant", "Parameter", "Result"):
            continue
        if search and kind in _SEARCH_OPS:
            continue
        names.append(name)
    return names


def quantize_anomaly(fp32_xml: Path, out: Path, calibration: list[np.ndarray], meta: AnomalyMeta,
                     search: bool = False) -> Path:
    """INT8 IR of an exported anomaly model, calibrated on `calibration` (uint8 good images)."""
    import openvino as ov

    from training.int8_openvino import nncf_quantize

    if not calibration:
        raise DataError("INT8 calibration needs good images; none were given")
    for i, image in enumerate(calibration):
        check_image(image, meta, f"calibration image {i}")
    model = ov.Core().read_model(str(fp32_xml))
    tensors = [window[None] for image in calibration for window in preprocess_windows(image, meta)[0]]
    # global min/max ranges: a defect is what drives activations past the good parts' range, and NNCF's
    # default (outlier-trimming) ranges clipped more of it (docs/models.md)
    quantized = nncf_quantize(model, tensors, scorer_ignored_names(model, search), minmax=True)
    quantized.set_rt_info(meta.to_json(), [META_KEY])
    out.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    return out


@dataclass(frozen=True)
class Int8Report:
    """Float32 vs INT8 on the held-out images, measured in one process; `accepted` = within the tolerance."""

    path: Path
    accepted: bool
    tolerance: float
    rate_tolerance: float
    auroc_f32: float
    auroc_int8: float
    escape_f32: float
    escape_int8: float
    false_reject_f32: float
    false_reject_int8: float
    max_score_dev: float  # largest |int8 − f32| / f32 image score
    cpu_ms_f32: float
    cpu_ms_int8: float
    n_good: int
    n_bad: int

    def lines(self) -> list[str]:
        verdict = "accepted" if self.accepted else "REFUSED"
        return [
            f"INT8 {self.path}: {verdict}",
            f"  held-out images  {self.n_good} good, {self.n_bad} defective",
            f"  image AUROC      f32 {self.auroc_f32:.4f}  int8 {self.auroc_int8:.4f}  "
            f"(drop {self.auroc_f32 - self.auroc_int8:+.4f}, tolerance {self.tolerance})",
            f"  at the threshold escape {self.escape_f32:.1%} → {self.escape_int8:.1%}, "
            f"false reject {self.false_reject_f32:.1%} → {self.false_reject_int8:.1%} "
            f"(tolerance +{self.rate_tolerance:.1%} each)",
            f"  image scores     largest relative change {self.max_score_dev:.2%}",
            f"  CPU ms / image   f32 {self.cpu_ms_f32:.1f}  int8 {self.cpu_ms_int8:.1f} (1 thread, this machine)",
        ]


def _remove(xml: Path) -> None:
    for path in (xml, xml.with_suffix(".bin")):
        path.unlink(missing_ok=True)


def _scores(runtime: AnomalyRuntime, images: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Image scores one at a time (as the line runs), median CPU ms per image (all threads of the process)."""
    runtime.analyse(images[0])  # warm-up
    scores, cpu = [], []
    for image in images:
        started = time.process_time()
        scores.append(runtime.analyse(image).score)
        cpu.append(time.process_time() - started)
    return np.asarray(scores), float(np.median(cpu) * 1e3)


def export_anomaly_int8(fp32_xml: Path, calibration: list[np.ndarray], good: list[np.ndarray],
                        bad: list[np.ndarray], tolerance: float = DEFAULT_TOLERANCE,
                        rate_tolerance: float = DEFAULT_RATE_TOLERANCE, search: bool = False,
                        out: Path | None = None) -> Int8Report:
    """Quantize the float32 export `fp32_xml` and gate it; a refused INT8 file is removed and StationError
    raised with the numbers. `good`/`bad` must be images the model was not fitted on."""
    from training.anomaly import auroc

    if len(good) < 2 or len(bad) < 2:
        raise DataError(f"the INT8 gate needs held-out good and defective images (≥ 2 each), got {len(good)} good "
                        f"and {len(bad)} defective")
    if not (0 <= tolerance < 1 and 0 <= rate_tolerance < 1):
        raise DataError(f"INT8 tolerances must be in 0..1, got AUROC {tolerance}, rates {rate_tolerance}")
    fp32 = AnomalyRuntime(fp32_xml, threads=1)
    target = quantize_anomaly(fp32_xml, out or int8_path(fp32_xml), calibration, fp32.meta, search)
    try:
        int8 = AnomalyRuntime(target, threads=1)
        (g32, ms32), (b32, _) = _scores(fp32, good), _scores(fp32, bad)
        (g8, ms8), (b8, _) = _scores(int8, good), _scores(int8, bad)
        int8.close()
    except Exception:  # an unchecked INT8 file must not stay behind (e.g. held-out images of the wrong size)
        _remove(target)
        raise
    finally:
        fp32.close()
    t = fp32.meta.threshold
    ref, new = np.concatenate([g32, b32]), np.concatenate([g8, b8])
    report = Int8Report(
        target, False, tolerance, rate_tolerance, auroc(g32, b32), auroc(g8, b8), float((b32 < t).mean()),
        float((b8 < t).mean()), float((g32 >= t).mean()), float((g8 >= t).mean()),
        float(np.max(np.abs(new - ref) / np.maximum(np.abs(ref), 1e-6))), ms32, ms8, len(good), len(bad))
    eps = 1e-9  # rates are fractions of small counts: 0.40 − 0.35 is a hair above 0.05 in floating point
    if (report.auroc_f32 - report.auroc_int8 > tolerance + eps
            or report.escape_int8 - report.escape_f32 > rate_tolerance + eps
            or report.false_reject_int8 - report.false_reject_f32 > rate_tolerance + eps):
        _remove(target)
        raise StationError("\n".join(report.lines()) + f"\nthe INT8 files were removed; use the float32 export "
                           f"{fp32_xml}, or calibrate on more/other good images")
    return replace(report, accepted=True)
