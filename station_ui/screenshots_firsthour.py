"""Screenshots for the first hour on the line (offscreen; for the README and docs/first_hour.md).

    python -m station_ui.screenshots_firsthour [--out docs/screenshots]

- doctor.png: `station doctor` on this machine (run for real, its text drawn in a console font);
- demo_loop.png: `station demo` — the live demo past its 24 bundled parts, PLC simulator and twin in-process;
- console_de.png: the same console in German (`--lang de`);
- spc_rules.png: the SPC tab with limits frozen from a baseline and a drift caught by the Nelson rules. The
  verdict log is generated (a baseline of 1 failed part in 20, then a drift to 5–7 in 20): a real drift
  takes hours of line time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


def _wait(app, condition, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def _doctor_text() -> str:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}  # as on a desktop without the libraries
    result = subprocess.run([sys.executable, "-m", "inspection.cli", "doctor"], capture_output=True, text=True,
                            timeout=300, env=env)
    return f"$ station doctor\n{result.stdout}\n$ echo $?\n{result.returncode}"


def _grab(widget, path: Path) -> Path:  # type: ignore[no-untyped-def]
    widget.grab().save(str(path))
    return path


def take(out: Path) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from station_ui.qtenv import prepare_qt_environment

    prepare_qt_environment()
    from PyQt6.QtCore import QSettings
    from PyQt6.QtGui import QFont
    from PyQt6.QtWidgets import QApplication, QPlainTextEdit

    from inspection.simulation.live_demo import live_demo
    from station_ui.i18n import install_language
    from station_ui.window import MainWindow

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    shots = []

    text = QPlainTextEdit()
    text.setPlainText(_doctor_text())
    text.setFont(QFont("DejaVu Sans Mono", 10))
    text.setStyleSheet("QPlainTextEdit { background: #101418; color: #e0e0e0; }")
    text.resize(1100, 40 + 17 * text.toPlainText().count("\n"))
    text.show()
    _wait(app, lambda: False, 0.3)
    shots.append(_grab(text, out / "doctor.png"))
    text.close()

    work = Path(tempfile.mkdtemp(prefix="firsthour-shots-"))
    for language, name in (("en", "demo_loop.png"), ("de", "console_de.png")):
        install_language(language)
        with live_demo("solder", overrides={"data_dir": str(work / language)}) as live:
            settings = QSettings(str(work / f"{language}.ini"), QSettings.Format.IniFormat)
            window = MainWindow(live.config, work / f"{language}.db", settings=settings, theme="dark")
            window.resize(1400, 900)
            window.show()
            window.start()
            if not _wait(app, lambda w=window: int(w.counters.text_of("inspected") or 0) >= 31, 300):
                raise SystemExit(f"the live demo did not get past its 24 parts: {window.state_label.text()}")
            _wait(app, lambda: False, 0.5)
            shots.append(_grab(window, out / name))
            window.close()
    install_language("en")

    shots.append(_spc_rules(app, work, out))
    return shots


def _spc_rules(app, work: Path, out: Path) -> Path:  # type: ignore[no-untyped-def]
    import numpy as np

    from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, StageTimings, Verdict, VerdictStatus
    from inspection.records.store import Store
    from station_ui.spc_view import SpcView

    store = Store(work / "spc.db")
    t0 = time.time() - 6 * 3600
    rng = np.random.default_rng(3)
    seq = 0
    for g in range(40):  # subgroups of 20 parts, 9 minutes apart
        rate = 0.05 if g < 24 else 0.05 + 0.015 * (g - 23)
        for k in range(20):
            n_def = int(rng.random() < rate)
            dets = tuple(Detection("bridge", 0.9, Box(1, 1, 5, 5)) for _ in range(n_def))
            verdict = Verdict(VerdictStatus.FAIL if dets else VerdictStatus.PASS,
                              (Reason("defect", "bridge"),) if dets else ())
            store.record(Inspection(Frame(np.zeros((8, 8), np.uint8), "cam0", seq, t0 + g * 540 + k * 27), dets,
                                    verdict, dets, StageTimings(latency_ms=10.0)))
            seq += 1
    from inspection.domain.permissions import Role, User
    from inspection.people.spc_baseline import freeze_limits

    qe = User("qe", Role.ENGINEER)
    freeze_limits(store, "p", t0, t0 + 24 * 540 - 1, subgroup_size=20, user=qe)
    view = SpcView(user=lambda: qe)
    view.resize(1400, 900)
    view.show()
    view.set_store(store)
    view.span.setCurrentIndex(view.span.findData("all"))
    view.subgroup.setValue(20)
    view.refresh()
    _wait(app, lambda: False, 0.5)
    path = _grab(view, out / "spc_rules.png")
    view.close()
    store.close()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    for path in take(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
