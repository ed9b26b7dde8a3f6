"""Good-only anomaly detection: a model fitted on good parts flags anything unusual.

PatchCore-style (mid-level features of a frozen ImageNet EfficientNet-Lite0, locally aware patch
features, coreset memory bank, nearest-neighbour distance) giving an image score and a pixel anomaly map.
Fitting lives in `training.anomaly`; this package is the runtime: the model file format
(`model`), the torch network (`network`, imported only for `.npz` models), backends (`runtime`),
the `anomaly` detector adapter (`detector`), the `combined` detector (`combined`) and export (`export`).
"""

from inspection.anomaly.model import AnomalyMeta, AnomalyModel, check_image, confidence, load_npz_model, preprocess
from inspection.anomaly.runtime import AnomalyResult, AnomalyRuntime

__all__ = [
    "AnomalyMeta",
    "AnomalyModel",
    "AnomalyResult",
    "AnomalyRuntime",
    "check_image",
    "confidence",
    "load_npz_model",
    "preprocess",
]
