"""Batch export: explain a whole folder with the loaded models through gcam-explain's own
`explain_paths` (overlays, raw maps, predictions.csv), run as a job in the inference worker,
which owns the models. Between batches the worker answers the panels' requests, so the
comparison stays live while a folder is exported."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
    QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget,
)

from gcam_desktop.app.compare.controls import ControlValues
from gcam_desktop.app.inference.service import InferenceService
from gcam_desktop.app.widgets.browse_row import with_browse
from gcam_desktop.explain.names import method_label
from gcam_desktop.models.names import arch_label, model_names

JOB = "batch-export"


def run_batch(worker, paths, slots, out_dir, method, layer, target, cmap, alpha, options=None) -> dict:
    """Runs in the worker thread (InferenceService.run_job). `options`: the method's, as the
    Compare tab's options row set them."""
    from gcam_desktop.batch.explain_files import ModelSpec, explain_paths

    slots = [slot for slot in slots if slot in worker.models]
    names = model_names([(worker.models[slot].info.arch, slot) for slot in slots])  # as the CLIs name them
    specs = [ModelSpec(name, worker.models[slot].model, worker.models[slot].meta) for name, slot in zip(names, slots)]
    if not specs:
        raise ValueError("no loaded model to export with")
    report = explain_paths(
        paths, specs, out_dir, method=method, layer=layer or None, target=target if isinstance(target, str) else None,
        cmap=cmap, alpha=alpha, options=dict(options or {}),
        on_progress=lambda done, total, path: worker.job_progress.emit(JOB, done, total, path),
        on_error=lambda what, why: worker.job_error.emit(JOB, what, why),
        should_stop=lambda: worker.serve_requests() or worker.cancelled())
    return {"images": report.images, "maps": report.maps, "failures": len(report.failures),
            "cancelled": report.cancelled, "csv": str(report.predictions_csv or ""), "seconds": report.seconds,
            "out": str(out_dir)}


class BatchExportDialog(QDialog):
    """`models`: (slot, architecture) of the loaded models; `values`: the Compare tab's controls;
    `start`: the folder offered; `say(text, timeout_ms)`: the status bar."""

    def __init__(self, service: InferenceService, models: list[tuple[str, str]], values: ControlValues,
                 start: str, say: Callable[[str, int], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.say = service, say
        self.setWindowTitle("Batch export")
        self.setMinimumWidth(560)
        self.running = False
        self.result: dict | None = None
        v = values
        self.source = QLineEdit(start)
        self.out = QLineEdit(str(Path(start) / "explanations") if start else "")
        self.models: dict[str, QCheckBox] = {}
        models_row = QHBoxLayout()
        for slot, arch in models:
            box = QCheckBox(f"{slot} ({arch_label(arch)})")
            box.setChecked(True)
            self.models[slot] = box
            models_row.addWidget(box)
        models_row.addStretch(1)
        self.v = v
        which = f"class \u201c{v.target}\u201d" if isinstance(v.target, str) else "own prediction"
        summary = QLabel(f"{method_label(v.method)} \u00b7 layer {v.layer or 'default'} \u00b7 {which} "
                         f"\u00b7 {v.colormap} at {v.opacity:.0%}")
        summary.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Images", with_browse(self.source, self._pick_source))
        form.addRow("Output", with_browse(self.out, self._pick_out))
        form.addRow("Models", models_row)
        form.addRow("Settings", summary)
        self.progress = QProgressBar()
        self.status = QLabel("Overlays (PNG), raw maps (.npy) and predictions.csv, one folder per model.")
        self.status.setWordWrap(True)
        self.errors = QPlainTextEdit()
        self.errors.setReadOnly(True)
        self.errors.setMaximumHeight(120)
        self.errors.setPlaceholderText("Files that could not be explained are listed here; the export goes on.")
        self.buttons = QDialogButtonBox()
        self.start_btn = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_btn = QPushButton("Open folder")
        self.open_btn.setEnabled(False)
        self.buttons.addButton(self.open_btn, QDialogButtonBox.ButtonRole.ActionRole)
        self.close_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        self.open_btn.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(self.out.text())))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.errors)
        layout.addWidget(self.buttons)
        svc = service
        svc.worker.job_progress.connect(self._on_progress)
        svc.worker.job_error.connect(self._on_error)
        svc.worker.job_done.connect(self._on_done)
        svc.worker.job_failed.connect(self._on_failed)
        if not self.models:
            self.start_btn.setEnabled(False)
            self.status.setText("Load a model into a slot first.")

    def _pick_source(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of images", self.source.text())
        if d:
            self.source.setText(d)
            if not self.out.text():
                self.out.setText(str(Path(d) / "explanations"))

    def _pick_out(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output folder", self.out.text())
        if d:
            self.out.setText(d)

    def start(self) -> bool:
        src, out = self.source.text().strip(), self.out.text().strip()
        slots = [s for s, box in self.models.items() if box.isChecked()]
        problem = (None if src and Path(src).exists() else f"{src or '(none)'}: no such folder or file") or \
                  (None if out else "choose an output folder") or (None if slots else "tick at least one model")
        if problem:
            self.status.setText(problem)
            return False
        self.running = True
        self.start_btn.setEnabled(False)
        self.close_btn.setText("Cancel")
        self.errors.clear()
        self.progress.setRange(0, 0)
        self.status.setText("Exporting\u2026")
        v = self.v
        self.service.run_job(JOB, run_batch, [src], slots, out, v.method, v.layer, v.target,
                             v.colormap, float(v.opacity), dict(v.method_options.get(v.method, {})))
        return True

    def _on_progress(self, job: str, done: int, total: int, path: str) -> None:
        if job == JOB:
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(done)
            self.status.setText(f"{done} / {total}: {Path(path).name}")

    def _on_error(self, job: str, what: str, why: str) -> None:
        if job == JOB:
            self.errors.appendPlainText(f"{what}: {why}")

    def _on_done(self, job: str, result: dict) -> None:
        if job != JOB:
            return
        self.running, self.result = False, result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        word = "Cancelled" if result["cancelled"] else "Done"
        self.status.setText(f"{word}: {result['maps']} maps from {result['images']} images in {result['seconds']:.1f} s"
                            + (f"; {result['failures']} problems (listed below)" if result["failures"] else "")
                            + f" \u2192 {result['out']}")
        self.open_btn.setEnabled(True)
        self.close_btn.setText("Close")
        self.start_btn.setEnabled(True)
        self.say(self.status.text(), 10000)

    def _on_failed(self, job: str, message: str) -> None:
        if job == JOB:
            self.running = False
            self.status.setText(f"Export failed: {message}")
            self.close_btn.setText("Close")
            self.start_btn.setEnabled(True)

    def reject(self) -> None:
        if self.running:
            self.service.cancel_job()   # asked between batches; the dialog closes when done
            self.status.setText("Cancelling after the current batch\u2026")
            return
        super().reject()

    def done(self, r: int) -> None:
        svc = self.service
        for sig, slot in ((svc.worker.job_progress, self._on_progress), (svc.worker.job_error, self._on_error),
                          (svc.worker.job_done, self._on_done), (svc.worker.job_failed, self._on_failed)):
            try:
                sig.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        super().done(r)

