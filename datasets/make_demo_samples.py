"""Write the bundled demo sample parts (re-runnable, deterministic).

    python -m datasets.make_demo_samples [--out inspection/demo/parts] [--count 24]

Per product: every third part is good, the others each carry at least one defect, cycling through the
classes so that every class is shown. Images are JPEG (quality 92) to keep the bundle small (a 320 px
part with camera noise is ~200 KB as PNG, ~30 KB as JPEG); ``manifest.json`` lists the ground truth.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2

from inspection.simulation.synthetic import PaintGenerator, PartGenerator, SolderGenerator, SyntheticPart

__all__ = ["DEMO_SEED", "main", "write_demo_samples"]

DEMO_SEED = 2026
_DEFAULT_OUT = Path(__file__).resolve().parents[1] / "inspection" / "demo" / "parts"


def _sample(gen: PartGenerator, slot: int) -> SyntheticPart:
    """Part for demo slot ``slot``: good every third slot, else featuring one class (plus chance ones)."""
    if slot % 3 == 0:
        return gen.part(slot, dict.fromkeys(gen.classes, 0.0))
    featured = gen.classes[(slot - slot // 3 - 1) % len(gen.classes)]
    probs = {name: (1.0 if name == featured else 0.08) for name in gen.classes}
    index = slot
    part = gen.part(index, probs)
    while part.is_good:  # the featured defect fell outside the view: take the next index
        index += 1000
        part = gen.part(index, probs)
    return part


def write_demo_samples(out_dir: Path = _DEFAULT_OUT, count: int = 24, seed: int = DEMO_SEED) -> list[Path]:
    """Write ``count`` parts per product under ``out_dir/<product>/`` and a manifest; return the image paths."""
    written: list[Path] = []
    for gen in (SolderGenerator(seed=seed), PaintGenerator(seed=seed)):
        folder = Path(out_dir) / gen.product
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jpg"):
            old.unlink()
        manifest = {
            "generator": type(gen).__name__,
            "seed": seed,
            "data_version": gen.data_version,
            "classes": list(gen.classes),
            "parts": {},
        }
        for slot in range(count):
            part = _sample(gen, slot)
            name = f"{gen.product}_{slot:02d}_{'good' if part.is_good else 'bad'}.jpg"
            cv2.imwrite(str(folder / name), part.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            manifest["parts"][name] = {
                "index": part.index,
                "good": part.is_good,
                "defects": [{"class": d.class_name, "box": [round(v, 1) for v in d.box]} for d in part.defects],
            }
            written.append(folder / name)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
    parser.add_argument("--count", type=int, default=24)
    args = parser.parse_args(argv)
    paths = write_demo_samples(args.out, args.count)
    print(f"wrote {len(paths)} sample parts under {args.out}")


if __name__ == "__main__":
    main()
