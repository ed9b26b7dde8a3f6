"""Build the data and train one of the station's shipped models (the exact recipe is recorded in its card).

python -m training.ship solder --epochs 20 --train 500 --val 100 --test 150 --threads 1
python -m training.ship paint --epochs 15 --train 400 --val 100 --test 150 --threads 1
python -m training.ship deeppcb --epochs 8 --imgsz 320 --threads 1   # golden-template composite input
python -m training.ship neu --epochs 60 --imgsz 224 --threads 2      # real steel surfaces (NEU-DET)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.settings import parse_setting
from training.train import TrainResult, train_detector

__all__ = ["DEMO_MODELS", "build_deeppcb", "build_deeppcb_eval", "build_neu_det", "build_synthetic", "main"]

DEMO_MODELS = Path(__file__).resolve().parents[1] / "inspection" / "demo" / "models"
SHIP_SEED = 1234
RECIPES = DEMO_MODELS.parent / "recipes"
RECIPE_OF = {"solder": "solder", "paint": "paint", "deeppcb": "pcb", "neu": "steel"}
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def build_synthetic(product: str, root: Path, n_train: int, n_val: int, n_test: int, imgsz: int) -> Path:
    """Render the synthetic data set of a product (or reuse it if it is already there)."""
    from inspection.simulation.synthetic import generator_for, write_yolo_dataset

    gen = generator_for(product, seed=SHIP_SEED, imgsz=imgsz)
    out = root / f"{product}-{gen.data_version}-{n_train}-{n_val}-{n_test}"
    if (out / "data.yaml").exists():
        return out / "data.yaml"
    return write_yolo_dataset(gen, out, n_train, n_val, "detect", n_test=n_test)


def build_deeppcb(root: Path, data_root: Path) -> Path:
    """DeepPCB as golden-template composites (B test, G template, R difference), split by board group."""
    from datasets.convert import convert_deeppcb

    out = data_root / "deeppcb-composite"
    if (out / "data.yaml").exists():
        return out / "data.yaml"
    return convert_deeppcb(root, out, composite=True).data_yaml


def build_deeppcb_eval(root: Path, data_root: Path) -> Path:
    """The PCB model's held-out set: test group 92000 as it is plus each board repaired (a good board)."""
    from datasets.convert import deeppcb_repaired_goods

    out = data_root / "deeppcb-repaired-92000"
    if (out / "data.yaml").exists():
        return out / "data.yaml"
    return deeppcb_repaired_goods(root, out, groups=("92000",))


def build_neu_det(root: Path, data_root: Path) -> Path:
    """NEU-DET steel surfaces, split by a stable hash of the file name (70 % train, 15 % val, 15 % test)."""
    from datasets.convert import convert_neu_det

    out = data_root / "neu-det"
    if (out / "data.yaml").exists():
        return out / "data.yaml"
    return convert_neu_det(root, out).data_yaml


def evaluate_shipped(model: Path, data: Path, recipe: Path, data_root: Path, split: str = "test") -> Path:
    """Evaluate a shipped model on its held-out split at its recipe's thresholds; record it in the card."""
    import json

    from training.evaluate import evaluate, metrics_table, thresholds_from_recipe
    from training.train import ModelCard, write_card

    report = evaluate(data, model, split, thresholds_from_recipe(recipe), data_root / "eval" / model.stem)
    card = ModelCard(**json.loads(model.with_suffix(".json").read_text()))
    card.heldout_metrics = {
        "split": split,
        "images": report.images,
        "defective_images": report.defective_images,
        "good_images": report.good_images,
        "recipe": recipe.name,
        **report.headline(),
        "per_class": {k: {m: round(v, 4) for m, v in row.items()} for k, row in report.per_class.items()},
    }
    write_card(model, card)
    print(metrics_table(report))
    return model


def main(argv: list[str] | None = None) -> TrainResult | Path:
    parser = argparse.ArgumentParser(description="train a shipped synthetic model")
    parser.add_argument("product", choices=["solder", "paint", "deeppcb", "neu"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--val", type=int, default=150)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/station-data"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shared-data", type=Path, default=SHARED_DATA)
    parser.add_argument("--fraction", type=float, default=1.0, help="fraction of the training images to use")
    parser.add_argument("--final-val-only", action="store_true", help="validate after the last epoch only")
    parser.add_argument("--init", default="yolov8n.yaml",
                        help="architecture YAML, a checkpoint to continue from, or efficientnet-lite0 (ImageNet trunk)")
    parser.add_argument("--eval-only", action="store_true", help="only evaluate the shipped model on the test split")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a further ultralytics train argument, e.g. --set lr0=0.002 (repeatable; values parsed as YAML)",
    )
    args = parser.parse_args(argv)
    # One warm-up epoch: the first paint model spent most of its 13-step epochs in ultralytics' 3-epoch warm-up.
    extra: dict = {"fraction": args.fraction, "val": not args.final_val_only, "warmup_epochs": 1.0}
    if args.init.endswith(".pt"):  # a later stage: short warm-up, a gentler fixed optimizer
        extra |= {"optimizer": "AdamW", "lr0": 0.0005, "warmup_epochs": 0.3}
    extra |= dict(_parse_setting(item) for item in args.set)
    if args.product == "deeppcb":
        data = build_deeppcb(args.shared_data / "deeppcb", args.data_root)
        out = args.out or DEMO_MODELS / "pcb_yolov8n.pt"
        extra |= {"hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "flipud": 0.5}  # channels carry meaning
    elif args.product == "neu":
        data = build_neu_det(args.shared_data / "neu-det", args.data_root)
        out = args.out or DEMO_MODELS / "steel_yolov8n.pt"
        extra |= {"hsv_h": 0.0, "hsv_s": 0.0, "flipud": 0.5}  # grey images; a steel strip has no "up"
    else:
        data = build_synthetic(args.product, args.data_root, args.train, args.val, args.test, args.imgsz)
        out = args.out or DEMO_MODELS / f"{args.product}_yolov8n.pt"
    if args.eval_only and args.product == "deeppcb":  # held-out boards as they are and repaired (good)
        data = build_deeppcb_eval(args.shared_data / "deeppcb", args.data_root)
    if args.eval_only:
        return evaluate_shipped(out, data, RECIPES / f"{RECIPE_OF[args.product]}.yaml", args.data_root)
    result = train_detector(
        data,
        out,
        model_cfg=args.init,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device="auto",
        threads=args.threads,
        runs_dir=args.data_root / "runs",
        extra=extra,
    )
    if args.product == "deeppcb":  # the card says so, for scripts that feed the model
        from training.train import write_card

        result.card.input = "golden_composite"
        write_card(result.weights, result.card)
    return result


def _parse_setting(item: str) -> tuple[str, object]:
    try:
        return parse_setting(item)
    except ValueError as exc:
        raise SystemExit(f"--set: {exc}") from None


if __name__ == "__main__":
    main()
