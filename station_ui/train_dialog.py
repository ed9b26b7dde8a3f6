"""Console action "Build dataset and train…": runs `station dataset build` then `station train` as child
processes, shows their output live, and can be cancelled. The console only forwards: the work and its
checks are the CLI's (the same commands an engineer runs at a desk)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from PyQt6.QtCore import QProcess, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

__all__ = ["TrainDialog"]

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class TrainDialog(QDialog):
    finished_with = pyqtSignal(str)  # "done", "failed" or "cancelled"

    def __init__(self, db_path: Path, out_dir: Path, classes: tuple[str, ...], parent=None,
                 base_model: Path | None = None) -> None:
        super().__init__(parent)
        self.base_model = base_model
        # Continuing from the station's model needs far less data and time than starting from scratch.
        self.continue_from_base = QCheckBox(f"Continue from the current model ({base_model.name})" if base_model
                                            else "Continue from the current model (none: training from scratch)")
        self.continue_from_base.setChecked(base_model is not None)
        self.continue_from_base.setEnabled(base_model is not None)
        self.setWindowTitle(self.tr("Build dataset and train a candidate model"))
        self.db_path, self.out_dir, self.classes = Path(db_path), Path(out_dir), classes
        self.model_path: Path | None = None
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(30)
        self.imgsz = QSpinBox()
        self.imgsz.setRange(32, 2048)
        self.imgsz.setSingleStep(32)
        self.imgsz.setValue(320)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.status = QLabel(self.tr("Reviewed samples become a frozen dataset version, then a candidate model."))
        self.start_button = QPushButton(self.tr("Start"))
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        options = QHBoxLayout()
        for text, widget in (("Epochs", self.epochs), ("Image size", self.imgsz)):
            options.addWidget(QLabel(text))
            options.addWidget(widget)
        options.addWidget(self.continue_from_base)
        options.addStretch(1)
        options.addWidget(self.start_button)
        options.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(options)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.status)
        self.resize(800, 500)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._step_finished)
        self._step = ""
        self._output = ""
        self._cancelled = False

    def start(self) -> None:
        self._cancelled = False
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._run("build", ["dataset", "build", "--db", str(self.db_path), "--out", str(self.out_dir / "datasets"),
                            "--classes", ",".join(self.classes)])

    def cancel(self) -> None:
        """Stop the running step; a half-trained model is never written as the candidate."""
        self._cancelled = True
        if self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()

    def _run(self, step: str, args: list[str]) -> None:
        self._step, self._output = step, ""
        self.status.setText(f"{step}: station {' '.join(args[:2])} …")
        self.process.start(sys.executable, ["-m", "inspection.cli", *args])

    def _read(self) -> None:
        text = ANSI.sub("", bytes(self.process.readAllStandardOutput().data()).decode(errors="replace"))
        self._output += text
        self.log.appendPlainText(text.replace("\r", "\n").rstrip())

    def _step_finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        if self._cancelled:
            return self._end("cancelled", "Cancelled: nothing was registered.")
        if code != 0:
            return self._end("failed", f"{self._step} failed (exit code {code}); see the log above.")
        if self._step == "build":
            match = re.search(r"data\.yaml: (.+)", self._output)
            if match is None:
                return self._end("failed", "dataset build did not report its data.yaml")
            version = Path(match.group(1).strip()).parent.name
            self.model_path = self.out_dir / "candidates" / f"{version}.pt"
            self._run("train", self.train_args(match.group(1).strip()))
            return None
        return self._end("done", f"Candidate model: {self.model_path}. Evaluate it against production with "
                                 "`station eval --baseline`, then register and promote it (`station models`).")

    def train_args(self, data_yaml: str) -> list[str]:
        """The `station train` command line for the dataset just built."""
        args = ["train", "--data", data_yaml, "--out", str(self.model_path), "--epochs", str(self.epochs.value()),
                "--imgsz", str(self.imgsz.value())]
        if self.base_model is not None and self.continue_from_base.isChecked():
            args += ["--model-cfg", str(self.base_model)]
        return args

    def _end(self, outcome: str, message: str) -> None:
        self.status.setText(message)
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.finished_with.emit(outcome)
