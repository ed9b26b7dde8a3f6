"""Train a YOLO detector/segmenter from scratch, offline, and record how it was made.

``train_detector`` wraps ``ultralytics.YOLO(cfg).train`` with the station's defaults (no downloads, no
plots, no AMP check, few workers, a thread cap for shared CPUs), copies the best weights to ``out_path``
and writes a model card (``<model>.json`` and ``<model>.md``) next to it: command, data version, epochs,
time and metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inspection.models.portable import portable_value

__all__ = [
    "ModelCard",
    "TrainResult",
    "data_version",
    "frozen_tensors_changed",
    "mask_branch_freeze",
    "resolve_device",
    "ship_run",
    "train_detector",
    "write_card",
]


@dataclass(slots=True)
class ModelCard:
    """What travels next to a shipped model: how it was trained and how good it is."""

    model: str
    task: str
    classes: list[str]
    data: str
    data_version: str
    model_cfg: str
    epochs: int
    imgsz: int
    batch: int
    device: str
    train_seconds: float
    command: str
    val_metrics: dict[str, float] = field(default_factory=dict)
    heldout_metrics: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    # what the detector expects as its input, for scripts and `yolo val` users: "image" (the camera image
    # as it is) or "golden_composite" (inspected board + its golden template, datasets.convert.deeppcb)
    input: str = "image"


@dataclass(frozen=True, slots=True)
class TrainResult:
    weights: Path
    card: ModelCard
    run_dir: Path


def resolve_device(device: str = "auto") -> str:
    """ "auto" means the first CUDA device when there is one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def data_version(data_yaml: str | Path) -> str:
    """The data set's version: the generator's hash for synthetic sets, else a hash of the label files."""
    path = Path(data_yaml)
    meta = yaml.safe_load(path.read_text())
    source = meta.get("source") or {}
    if "data_version" in source:
        return str(source["data_version"])
    root = Path(meta.get("path") or path.parent)
    digest = hashlib.sha256()
    for split in ("train", "val", "test"):
        if split not in meta:
            continue
        labels = root / str(meta[split]).replace("images", "labels", 1)
        for label in sorted(labels.glob("*.txt")):
            digest.update(label.name.encode())
            digest.update(label.read_bytes())
    return digest.hexdigest()[:12]


def mask_branch_freeze(model_cfg: str) -> list[int | str]:
    """Ultralytics' ``freeze`` list that leaves only a segmenter's mask branch trainable.

    The trainer freezes every parameter whose name contains ``model.{x}.`` for x in the list (and sets those
    layers' BatchNorm to eval, so their running statistics stay too). Frozen: the backbone and neck (layers
    before the head) and the Segment head's box/class branches ``cv2``, ``cv3``, ``dfl``; trained: ``proto``
    (prototype masks) and ``cv4`` (mask coefficients). With ``--init-weights`` from a detector of the same
    classes, the segmenter then detects exactly as that detector does."""
    from ultralytics.nn.tasks import yaml_model_load

    if not str(model_cfg).endswith((".yaml", ".yml")):
        raise ValueError(f"training only the mask branch needs an architecture YAML, got {model_cfg!r}")
    spec = yaml_model_load(model_cfg)
    layers = [*spec["backbone"], *spec["head"]]
    if str(layers[-1][2]) != "Segment":
        raise ValueError(f"{model_cfg}: the last layer is {layers[-1][2]}, not a Segment head; "
                         "training only the mask branch needs a segmentation architecture (…-seg.yaml)")
    head = len(layers) - 1
    return [*range(head), f"{head}.cv2", f"{head}.cv3", f"{head}.dfl"]


def frozen_tensors_changed(before: str | Path, after: str | Path, freeze: list[int | str]) -> tuple[int, list[str]]:
    """Compare the frozen tensors (parameters and BatchNorm statistics) of two checkpoints: how many were
    compared and the names of those that differ, bit for bit."""
    import torch

    from inspection.inference.model_files import safe_torch_load

    prefixes = tuple(f"model.{x}." for x in freeze)
    old = safe_torch_load(before)["model"].float().state_dict()
    new = safe_torch_load(after)["model"].float().state_dict()
    names = [k for k in new if k.startswith(prefixes) and k in old and old[k].shape == new[k].shape]
    return len(names), [k for k in names if not torch.equal(old[k], new[k])]


def _offline(threads: int) -> None:
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_VERBOSE", "True")  # epoch progress in the training log
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    try:
        from inspection.inference.offline import ensure_offline

        ensure_offline()
    except ImportError:  # the core is not importable (e.g. a bare training checkout)
        from ultralytics import settings

        settings.update({"sync": False})
    import torch

    torch.set_num_threads(max(1, threads))


def _pretrained_start(data_yaml: str | Path, path: Path) -> Path:
    """The starting checkpoint for a detector on the pretrained trunk, with the data set's classes."""
    from training.backbones import build_pretrained_detector

    data = yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8")) or {}
    names = data.get("names") or {}
    names = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    if not names:
        raise ValueError(f"{data_yaml}: no class names; the pretrained detector needs them to size its head")
    return build_pretrained_detector(len(names), path, names)


def train_detector(
    data_yaml: str | Path,
    out_path: str | Path,
    model_cfg: str = "yolov8n.yaml",
    epochs: int = 30,
    imgsz: int = 320,
    batch: int = 16,
    device: str = "auto",
    task: str = "detect",
    threads: int = 2,
    runs_dir: str | Path = "runs/train",
    extra: dict[str, Any] | None = None,
) -> TrainResult:
    """Train and ship the best weights: from scratch when ``model_cfg`` is an architecture YAML, continuing
    from its weights when it is a checkpoint (``.pt``; no pretrained YOLO weights exist offline), and on the
    ImageNet EfficientNet-Lite0 trunk when it names it (``efficientnet-lite0``, see training/backbones.py).

    ``extra`` passes further ultralytics train arguments (augmentation, ``patience``, ``fraction``...).
    """
    _offline(threads)
    import torch
    from ultralytics import YOLO

    out = Path(out_path)
    device = resolve_device(device)
    cfg = model_cfg if task == "detect" or "-seg" in model_cfg else model_cfg.replace(".yaml", "-seg.yaml")
    from training.backbones import PRETRAINED_BACKBONES

    backbone = None
    if model_cfg in PRETRAINED_BACKBONES:  # the ImageNet trunk: built as a checkpoint, then trained on like one
        if task != "detect":
            raise ValueError(f"--model-cfg {model_cfg}: only detection models are built on the pretrained backbone")
        backbone = model_cfg
        cfg = str(_pretrained_start(data_yaml, Path(runs_dir) / out.stem / f"{model_cfg}-start.pt"))
        model_cfg = cfg
    args: dict[str, Any] = {
        "data": str(data_yaml),
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        # One optimizer step per batch. Ultralytics' nominal batch of 64 accumulates 4 batches of 16, which on
        # the few hundred images of a station's data set leaves a few dozen steps: the model never learns.
        "nbs": batch,
        "device": device,
        "workers": 0,
        "plots": False,
        "amp": False,
        "project": str(Path(runs_dir).resolve()),
        "name": out.stem,
        "exist_ok": True,
        "seed": 0,
        "deterministic": True,
        # A checkpoint given as model_cfg is where training continues from: ultralytics drops its weights
        # unless pretrained is set (the earlier "stage 2" runs silently started from scratch).
        "pretrained": str(model_cfg).endswith(".pt"),
        "verbose": True,
        "val": True,
        "cache": "ram",
    }
    args.update(extra or {})
    started = time.perf_counter()
    if str(cfg).endswith((".pt", ".pth")):  # --init: a checkpoint is read, so it must pass the safe-load check
        from inspection.inference.model_files import check_model_file

        check_model_file(cfg)
    model = YOLO(cfg, task=task)
    used: dict[str, int] = {}

    def keep_threads(trainer: Any) -> None:
        # ultralytics resets torch to cpu_count - 1 threads when it selects the CPU (1 on a 2-core station),
        # which silently overrode `threads`; set it again once the trainer has chosen its device.
        torch.set_num_threads(max(1, threads))
        used["threads"] = torch.get_num_threads()

    model.add_callback("on_pretrain_routine_start", keep_threads)
    model.train(**args)
    seconds = time.perf_counter() - started
    trainer = model.trainer
    best = Path(trainer.best) if Path(trainer.best).exists() else Path(trainer.last)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, out)
    card = _card(out, task, data_yaml, cfg, epochs, imgsz, batch, device, seconds, trainer, model)
    if isinstance(args.get("pretrained"), str):  # a warm start (station train --init-weights), not from scratch
        card.model_cfg = f"{cfg} initialised from the matching layers of {Path(args['pretrained']).name}"
    if backbone:
        card.model_cfg = (f"{backbone} trunk with ImageNet weights (training/backbones.py), YOLOv8n neck and head "
                          "from random weights")
    # what training used, captured in the callback: ultralytics resets the threads again before train() returns
    card.environment["threads"] = str(used.get("threads", torch.get_num_threads()))
    write_card(out, card)
    return TrainResult(out, card, Path(trainer.save_dir))


def _card(
    out: Path,
    task: str,
    data_yaml: str | Path,
    cfg: str,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str,
    seconds: float,
    trainer: Any,
    model: Any,
) -> ModelCard:
    meta = yaml.safe_load(Path(data_yaml).read_text())
    metrics = {k: round(float(v), 4) for k, v in (getattr(trainer, "metrics", None) or {}).items()}
    names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
    import torch
    import ultralytics

    return ModelCard(
        model=out.name,
        task=task,
        classes=[names[i] for i in sorted(names)],
        data=str(data_yaml),
        data_version=data_version(data_yaml),
        model_cfg=cfg,
        epochs=int(getattr(trainer, "epoch", epochs - 1)) + 1,
        imgsz=imgsz,
        batch=batch,
        device=device,
        train_seconds=round(seconds, 1),
        command=" ".join(shlex.quote(a) for a in sys.argv),
        val_metrics=metrics,
        source={k: v for k, v in (meta.get("source") or {}).items() if k != "counts"},
        environment={
            "python": platform.python_version(),
            "torch": torch.__version__,
            "ultralytics": ultralytics.__version__,
            "threads": str(torch.get_num_threads()),
        },
    )


def ship_run(run_dir: str | Path, out_path: str | Path, notes: str = "") -> ModelCard:
    """Ship the last checkpoint of an interrupted run (stripped of optimizer state) with its card."""
    import csv

    from ultralytics.utils.torch_utils import strip_optimizer

    run, out = Path(run_dir), Path(out_path)
    args = yaml.safe_load((run / "args.yaml").read_text())
    rows = list(csv.DictReader((run / "results.csv").open()))
    out.parent.mkdir(parents=True, exist_ok=True)
    from inspection.inference.model_files import check_model_file

    shutil.copyfile(check_model_file(run / "weights" / "last.pt"), out)
    strip_optimizer(out)
    from inspection.inference.model_files import safe_torch_load

    names = safe_torch_load(out)["model"].names
    names = names if isinstance(names, dict) else dict(enumerate(names))
    last = {k.strip(): float(v) for k, v in rows[-1].items() if k.strip() != "epoch"} if rows else {}
    card = ModelCard(
        model=out.name,
        task=str(args.get("task", "detect")),
        classes=[names[i] for i in sorted(names)],
        data=str(args["data"]),
        data_version=data_version(args["data"]),
        model_cfg=str(args["model"]),
        epochs=len(rows),
        imgsz=int(args["imgsz"]),
        batch=int(args["batch"]),
        device=str(args["device"]),
        train_seconds=round(last.get("time", 0.0), 1),
        command=f"(run {run}, stopped after {len(rows)} epochs)",
        val_metrics={k: round(v, 4) for k, v in last.items() if k.startswith("metrics/")},
        source={"run_dir": str(run)},
        notes=notes,
    )
    write_card(out, card)
    return card


def write_card(model_path: str | Path, card: ModelCard, portable: bool | None = None) -> tuple[Path, Path]:
    """Write ``<model>.json`` and a readable ``<model>.md`` next to the model file.

    A card that ships (the model lies inside this repository, or ``portable=True``) carries repo-relative
    paths only (inspection.portable); a local candidate's card keeps its absolute paths as provenance."""
    path = Path(model_path)
    json_path, md_path = path.with_suffix(".json"), path.with_suffix(".md")
    if portable is None:
        portable = path.resolve().is_relative_to(Path(__file__).resolve().parents[1])
    if portable:
        card = ModelCard(**portable_value(asdict(card)))  # type: ignore[arg-type]
    json_path.write_text(json.dumps(asdict(card), indent=2) + "\n")
    md_path.write_text(_card_markdown(card))
    return json_path, md_path


def _card_markdown(card: ModelCard) -> str:
    lines = [
        f"# {card.model}",
        "",
        f"- task: {card.task}; classes: {', '.join(card.classes)}",
        f"- input: {card.input}",
        f"- architecture: `{card.model_cfg}`"
        + (" trained from scratch (no pretrained weights)" if card.model_cfg.endswith(".yaml") else ""),
        f"- data: `{card.data}` (data version `{card.data_version}`)",
        f"- epochs: {card.epochs}; imgsz: {card.imgsz}; batch: {card.batch}; device: {card.device}",
        f"- training time: {card.train_seconds / 60:.1f} min",
        f"- command: `{card.command}`",
        "",
        "## Validation metrics (split used for model selection)",
        "",
        *[f"- {k}: {v}" for k, v in card.val_metrics.items()],
        "",
    ]
    if card.heldout_metrics:
        lines += ["## Held-out metrics", "", "```json", json.dumps(card.heldout_metrics, indent=1), "```", ""]
    if card.notes:
        lines += ["## Notes", "", card.notes, ""]
    return "\n".join(lines)
