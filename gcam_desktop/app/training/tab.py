"""The Training tab: pick a data folder, architectures and recipe (the paper's by default),
run the trainer as a child process, watch its curves, and load the best checkpoints."""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
    QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QSpinBox, QSplitter,
    QTableWidget, QTableWidgetItem, QToolButton, QVBoxLayout, QWidget, QHeaderView,
)

from gcam_desktop.paths import DEMO_ARCHS, demo_checkpoint, runs_dir
from training.config import MAX_PROBE, TrainConfig

from gcam_desktop.app.widgets.browse_row import with_browse
from gcam_desktop.app.common.text import format_duration, format_percent
from gcam_desktop.models.names import ARCHS, arch_label
from gcam_desktop.app.common.settings import Settings
from gcam_desktop.app.training.curves import TrainingCurves
from gcam_desktop.app.training.duplicates_view import DuplicatesRow
from gcam_desktop.app.training.probe_strip import ProbeStrip
from gcam_desktop.app.training.process import TrainerProcess

TRAIN_ARCHS = ARCHS
PAPER = TrainConfig()  # the paper's recipe: the trainer's defaults, written once (training/config.py)
DEDUP_LABEL = "Keep one picture of each near-duplicate group"
UNVALIDATED_LABEL = "Train even when a class is too small to lend an image to validation"
SHUFFLE_LABEL = "Train on shuffled labels (sanity check)"
PROBE_LABEL = "images per epoch"
KEEP_LABEL = "epochs' weights (0: last, best)"
# The trainer's messages name its command-line flags; in the window they name the form's boxes.
FORM_FLAGS = {
    "--allow-unvalidated-classes": f"\u201c{UNVALIDATED_LABEL}\u201d ticked (Validation)",
    "--dedup": f"\u201c{DEDUP_LABEL}\u201d ticked (Duplicates)",
    "--shuffle-labels": f"\u201c{SHUFFLE_LABEL}\u201d ticked (Sanity)",
    "--probe": "the number of probe images (Probe, in the Processes row)",
    "--keep-every": "the epochs kept (Keep every, in the Processes row)",
}


def in_form_words(text: str) -> str:
    """A trainer message with each flag the form has a box for replaced by that box."""
    for flag, words in FORM_FLAGS.items():
        text = text.replace(flag, words)
    return text


class TrainingTab(QWidget):
    load_checkpoint = Signal(str, str)      # arch, checkpoint path
    checkpoint_landed = Signal(str, str)    # arch, best checkpoint (finished)
    message = Signal(str, int)
    run_finished = Signal(int)              # exit code
    open_images = Signal(list)              # pictures to show (a near-duplicate pair)
    open_probe = Signal(str, str, str)      # arch, checkpoint of an epoch, probe image: on the Compare tab

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.process = TrainerProcess(self)
        self.process.event.connect(self.on_event)
        self.process.log.connect(self._log)
        self.process.exited.connect(self._on_exited)
        self.mode = "train"                 # or "demo"
        self.best: dict[str, str] = {}      # arch -> best checkpoint from `finished`
        self.last: dict[str, str] = {}      # arch -> last checkpoint written
        self.events: list[dict] = []
        self._epoch_seconds: dict[str, list[float]] = {}
        self._val_acc: dict[tuple[str, int], float | None] = {}  # (arch, epoch) -> validation accuracy
        self._plan: list[str] = []
        self._epochs_total = 0
        self._t_start = 0.0
        self._build()
        self._set_running(False)

    # -- form -----------------------------------------------------------------------------
    def _build(self) -> None:
        t = self.settings["training"]  # validated against its types and ranges by Settings
        self._build_fields(t)
        setup = QGroupBox("Run")
        sv = QVBoxLayout(setup)
        sv.addLayout(self._form_layout())
        sv.addLayout(self._run_controls())
        sv.addWidget(self.duplicates)
        sv.addWidget(self.note)
        sv.addWidget(self.error)
        self._form_widgets = [self.data, self.out, self.init, self.epochs, self.batch, self.lr, self.size,
                              self.paper, self.dedup, self.unvalidated, self.shuffle, self.processes,
                              self.probe, self.keep_every,
                              *self.arch_boxes.values()]
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(setup)
        layout.addWidget(self._results_area(), 1)

    def _build_fields(self, t: dict) -> None:
        self.data = _line(t["data"], "a folder with one sub-folder per class (ImageFolder layout)")
        self.out = _line(t["out"], f"new folder under {runs_dir()}")
        self.init = _line("" if t["init"] == "scratch" else t["init"],
                          "from scratch (the paper); or a checkpoint to start from")
        self.arch_boxes = {a: QCheckBox(arch_label(a)) for a in TRAIN_ARCHS}
        for a, box in self.arch_boxes.items():
            box.setChecked(a in t["archs"])
        self.epochs = _spin(1, 10_000, t["epochs"])
        self.batch = _spin(2, 4096, t["batch_size"])
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 10.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(float(t["lr"]))
        self.size = _spin(16, 1024, t["input_size"], step=16)
        self._build_processes(t["processes"])
        self.paper = QPushButton("Paper's recipe")
        self.paper.setToolTip(f"Input {PAPER.input_size}, batch {PAPER.batch_size}, {PAPER.optimizer.capitalize()} "
                              f"lr {PAPER.lr:g}, {PAPER.epochs} epochs, from scratch"
                              + (", flips" if PAPER.hflip else ""))
        self.paper.clicked.connect(self.use_paper_recipe)
        self.dedup = QCheckBox(DEDUP_LABEL)
        self.dedup.setToolTip("Near-duplicates across splits are always counted before training; this also "
                              "removes the copies (the split stays stratified and seeded)")
        self.dedup.setChecked(t["dedup"])
        # The trainer refuses classes too small to lend an image to validation; this is the
        # user insisting (its accuracy then goes unmeasured, and the log says so).
        self.unvalidated = QCheckBox(UNVALIDATED_LABEL)
        self.unvalidated.setToolTip("Off: the trainer refuses a data set in which a class is too small to set "
                                    "one image aside for validation, naming the class and the minimum. On: it "
                                    "trains anyway and warns; that class's accuracy is then never measured.")
        self.unvalidated.setChecked(t["allow_unvalidated_classes"])
        self.shuffle = QCheckBox(SHUFFLE_LABEL)
        self.shuffle.setToolTip("The data randomisation sanity check (Adebayo et al. 2018): train on a seeded "
                                "permutation of the training labels, so the model can only memorise them. "
                                "Validation and test keep their true labels and stay at chance, as expected. "
                                "Compare this model's maps with the real one's: a method whose maps stay alike "
                                "does not depend on what the model learned.")
        self.shuffle.setChecked(t["shuffle_labels"])
        # The probe (gcam-train --probe, --keep-every): Grad-CAM of a few fixed validation images
        # after each epoch, in the strip below the curves; kept epochs can be opened on Compare.
        self.probe = _spin(0, MAX_PROBE, t["probe"])
        self.probe.setToolTip("After each epoch the trainer explains this many fixed validation images "
                              "(seeded, one per class first) with Grad-CAM; the strip below the curves shows "
                              "them epoch by epoch. 0: no probe.")
        self.keep_every = _spin(0, 10_000, t["keep_every"])
        self.keep_every.setToolTip("Also keep the weights of every K-th epoch (about 95 MB each for a ResNet50), "
                                   "so a probe picture can be opened on the Compare tab with the model of its "
                                   "epoch. 0: only last.pt and best.pt.")
        self.duplicates = DuplicatesRow()
        self.duplicates.open_pair.connect(self.open_images)

    def _build_processes(self, chosen: int | None) -> None:
        """One trainer process per GPU (DDP under torch.distributed.run); the global batch is split
        among them. 1 until the engine reports several GPUs (set_gpu_count), unless chosen."""
        self.processes = _spin(1, 64, chosen or 1)
        self.processes.setToolTip("Training processes, one per GPU (torch.distributed, DDP). The batch "
                                  "above is the global batch: each process takes its share.")
        self._processes_chosen = chosen is not None
        self.processes.valueChanged.connect(lambda _v: setattr(self, "_processes_chosen", True))

    def _form_layout(self) -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Data set", with_browse(self.data, self._pick_data))
        form.addRow("Architectures", _row(*self.arch_boxes.values()))
        recipe = []
        for label, w in (("Epochs", self.epochs), ("Batch", self.batch), ("LR", self.lr), ("Input", self.size)):
            recipe += [QLabel(label), w]
        form.addRow("Recipe", _row(*recipe, self.paper))
        form.addRow("Start from", with_browse(self.init, self._pick_init))
        form.addRow("Output", with_browse(self.out, self._pick_out))
        # The probe shares a row that has spin boxes already: a row more, or spin boxes in a row of
        # check boxes, would make the tab too tall for a 1024 x 700 window.
        form.addRow("Processes", _row(self.processes, QLabel("one per GPU; more than 1 runs DDP"),
                                      QLabel("   Probe"), self.probe, QLabel(PROBE_LABEL),
                                      QLabel("   Keep every"), self.keep_every, QLabel(KEEP_LABEL)))
        form.addRow("Duplicates", self.dedup)
        form.addRow("Validation", self.unvalidated)
        form.addRow("Sanity", self.shuffle)
        return form

    def _run_controls(self) -> QHBoxLayout:
        """Start, Stop, the progress bar and the state; the banners shown below the form."""
        self.start_btn = QPushButton("Start training")
        self.start_btn.setObjectName("primary")
        self.start_btn.clicked.connect(self.start)
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setToolTip("Stops after the current step; the trainer saves last.pt (resumable)")
        self.stop_btn.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.state = QLabel("Idle")
        self.state.setObjectName("trainState")
        self.error = _banner("errorBanner")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = _banner("infoBanner")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_btn)
        buttons.addWidget(self.stop_btn)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.state, 1)
        return buttons

    def _results_area(self) -> QSplitter:
        """The curves and the probe strip above; the results table and the trainer's log below."""
        self.curves = TrainingCurves()
        self.probes = ProbeStrip()
        self.probes.open_probe.connect(self.open_probe)
        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(self.curves)
        upper.addWidget(self.probes)
        upper.setSizes([540, 460])
        self.results = QTableWidget(0, 5)
        self.results.setHorizontalHeaderLabels(["Architecture", "Epoch", "Best val acc", "Test acc", ""])
        self.results.verticalHeader().hide()
        self.results.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.results.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.results.setMaximumHeight(150)
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setPlaceholderText("The trainer's messages appear here.")
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.results)
        lower.addWidget(self.log_view)
        lower.setSizes([500, 700])
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(upper)
        main.addWidget(lower)
        main.setSizes([380, 200])
        return main

    def use_paper_recipe(self) -> None:
        self.epochs.setValue(PAPER.epochs)
        self.batch.setValue(PAPER.batch_size)
        self.lr.setValue(PAPER.lr)
        self.size.setValue(PAPER.input_size)
        self.init.clear()

    def _pick_data(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Data set folder (one sub-folder per class)", self.data.text())
        if d:
            self.data.setText(d)

    def _pick_out(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output folder for the run", self.out.text() or str(runs_dir()))
        if d:
            self.out.setText(d)

    def _pick_init(self) -> None:
        from gcam_desktop.app.widgets.drops import CHECKPOINT_FILTER

        f, _ = QFileDialog.getOpenFileName(self, "Start from checkpoint", self.init.text(), CHECKPOINT_FILTER)
        if f:
            self.init.setText(f)

    def archs(self) -> list[str]:
        return [a for a, box in self.arch_boxes.items() if box.isChecked()]

    def _remember(self) -> None:
        self.settings["training"] = {
            "data": self.data.text().strip(), "out": self.out.text().strip(), "archs": self.archs(),
            "epochs": self.epochs.value(), "batch_size": self.batch.value(), "lr": self.lr.value(),
            "input_size": self.size.value(), "init": self.init.text().strip() or "scratch",
            "processes": self.processes.value() if self._processes_chosen else None,
            "dedup": self.dedup.isChecked(),
            "allow_unvalidated_classes": self.unvalidated.isChecked(),
            "shuffle_labels": self.shuffle.isChecked(),
            "probe": self.probe.value(), "keep_every": self.keep_every.value(),
        }
        self.settings.save()

    def command_args(self) -> list[str]:
        """The trainer's arguments for what the form says."""
        out = self.out.text().strip() or str(runs_dir() / _dt.datetime.now().strftime("run-%Y%m%d-%H%M%S"))
        args = ["--data", self.data.text().strip(), "--arch", *self.archs(), "--out", out,
                "--epochs", str(self.epochs.value()), "--batch-size", str(self.batch.value()),
                "--lr", f"{self.lr.value():g}", "--input-size", str(self.size.value())]
        if self.init.text().strip():
            args += ["--init", self.init.text().strip()]
        if self.processes.value() > 1:
            args += ["--nproc-per-node", str(self.processes.value())]
        if self.dedup.isChecked():
            args.append("--dedup")
        if self.unvalidated.isChecked():
            args.append("--allow-unvalidated-classes")
        if self.shuffle.isChecked():
            args.append("--shuffle-labels")
        args += ["--probe", str(self.probe.value())]
        if self.keep_every.value():
            args += ["--keep-every", str(self.keep_every.value())]
        return args

    def set_gpu_count(self, n: int) -> None:
        """The engine found `n` CUDA GPUs: with several, one process each, unless the user chose."""
        if n > 1 and not self._processes_chosen:
            self.processes.blockSignals(True)
            self.processes.setValue(n)
            self.processes.blockSignals(False)

    # -- running ------------------------------------------------------------------------------
    def running(self) -> bool:
        return self.process.running()

    def start(self) -> bool:
        problem = self._check_form()
        if problem:
            self._show_error(problem)
            return False
        self._remember()
        self._begin("train", self.command_args(), self.archs(), self.epochs.value())
        return True

    def _check_form(self) -> str | None:
        data = self.data.text().strip()
        if not data:
            return "Choose a data set folder (one sub-folder per class)."
        if not Path(data).is_dir():
            return f"{data}: no such folder."
        if not self.archs():
            return "Tick at least one architecture."
        return None

    def start_demo(self, archs=DEMO_ARCHS, extra_args: list[str] | None = None) -> None:
        """`gcam-train demo`: the synthetic set and the three demo models (make run)."""
        args = ["demo", *(extra_args or [])]
        self._begin("demo", args, list(archs), 0)

    def _begin(self, mode: str, args: list[str], archs: list[str], epochs: int) -> None:
        self.mode = mode
        self.curves.clear()
        self.probes.clear()
        self.results.setRowCount(0)
        self.best.clear()
        self.last.clear()
        self.events.clear()
        self.duplicates.clear()
        self._epoch_seconds.clear()
        self._val_acc.clear()
        self._plan, self._epochs_total = list(archs), epochs
        self._t_start = time.monotonic()
        self.error.hide()
        if mode == "demo":
            self.note.setText("Training the demo models with `gcam-train demo`: a synthetic shapes set and a "
                              "short preset (not the recipe above). The Compare tab's panels fill as each "
                              "model lands; next time they load at once.")
        self.note.setVisible(mode == "demo")
        self.progress.setRange(0, 0)
        self.state.setText("Starting the trainer\u2026")
        self.process.start(args)
        self._set_running(True)
        self.message.emit("Training started" if mode == "train" else "Training the demo models in the background", 5000)

    def stop(self) -> None:
        if self.running():
            self.state.setText("Stopping (the trainer saves its checkpoint)\u2026")
            self.stop_btn.setEnabled(False)
            self.process.stop()

    def shutdown(self) -> None:
        self._remember()  # the form as left, shown again next time
        self.process.shutdown()

    def _set_running(self, on: bool) -> None:
        self.start_btn.setEnabled(not on)
        self.stop_btn.setEnabled(on)
        for w in self._form_widgets:
            w.setEnabled(not on)   # the form shows what runs; it cannot change mid-run

    # -- events ---------------------------------------------------------------------------------
    def on_event(self, ev: dict) -> None:
        """One trainer event (training/events.py SCHEMA), dispatched through EVENT_HANDLERS."""
        self.events.append(ev)
        handler = self.EVENT_HANDLERS.get(ev.get("event"))
        if handler is not None:
            handler(self, ev, ev.get("arch") or "")

    def _on_run_started(self, ev: dict, arch: str) -> None:
        sizes = ev.get("sizes") or {}
        self._epochs_total = int(ev.get("epochs") or self._epochs_total or 0)
        if arch and arch not in self._plan:
            self._plan.append(arch)
        self._row(arch)
        self.probes.set_class_names(list(ev.get("class_names") or []))
        if ev.get("run_dir") and self.duplicates.report is None:  # RUN_DIR/<arch>: split.json is beside it
            self.duplicates.load(Path(ev["run_dir"]).parent)
            if self.duplicates.report is not None:
                self._log(self.duplicates.label.text())
        self._log(f"[{arch}] started: {sizes.get('train', '?')} train / {sizes.get('val', '?')} val / "
                  f"{sizes.get('test', '?')} test images, {len(ev.get('class_names') or [])} classes"
                  f" on {ev.get('device', '?')}"
                  + (f", {ev['world_size']} processes ({ev.get('backend')}, {ev.get('per_rank_batch')} images "
                     f"each per step)" if (ev.get("world_size") or 1) > 1 else ", 1 process")
                  + (f"; {ev['skipped']} unreadable images skipped" if ev.get("skipped") else ""))
        self.progress.setRange(0, max(1, self._epochs_total))
        self.progress.setValue(int(ev.get("start_epoch") or 0))
        self.state.setText(f"{arch_label(arch)}: starting")

    def _on_epoch_end(self, ev: dict, arch: str) -> None:
        self.curves.add_epoch(ev)
        epoch, epochs = int(ev.get("epoch", 0)), int(ev.get("epochs") or self._epochs_total or 0)
        self._epoch_seconds.setdefault(arch, []).append(float(ev.get("seconds") or 0.0))
        self.progress.setRange(0, max(1, epochs))
        self.progress.setValue(epoch)
        self.progress.setFormat(f"{arch_label(arch)} %v/%m")
        eta = format_duration(self._eta(arch, epoch, epochs))
        self.state.setText(f"{arch_label(arch)} epoch {epoch}/{epochs} \u00b7 ETA {eta}")
        self._set_cell(arch, 1, f"{epoch}/{epochs}")
        self._val_acc[(arch, epoch)] = ev.get("val_acc")
        # The per-epoch numbers are in the trainer's own log lines (stderr) already.

    def _on_probe(self, ev: dict, arch: str) -> None:
        self.probes.add_probe(ev)

    def _on_checkpoint(self, ev: dict, arch: str) -> None:
        self.probes.set_weights(arch, ev.get("path", ""), int(ev.get("epoch") or 0))
        self.last[arch] = ev.get("path", "")
        if ev.get("is_best"):
            # best.pt holds the epoch with the best validation accuracy so far: the table says it now
            self._set_cell(arch, 2, format_percent(self._val_acc.get((arch, int(ev.get("epoch") or 0)))))
            self._log(f"[{arch}] best so far \u2192 {ev.get('path')}")

    def _on_finished(self, ev: dict, arch: str) -> None:
        best = ev.get("best") or ev.get("path") or ""
        self.best[arch] = best
        self._set_cell(arch, 2, format_percent(ev.get("best_val_acc")))
        self._set_cell(arch, 3, format_percent(ev.get("accuracy"))
                       + (" (shuffled labels: chance expected)" if ev.get("shuffled_labels") else ""))
        self._load_button(arch, best)
        if arch not in self.probes.rows and best:  # finished in an earlier session: its probe files
            self.probes.load_folder(arch, Path(best).parent, {best: int(ev.get("best_epoch") or 0)}
                                    | kept_weights(Path(best).parent))
        self._log(f"[{arch}] finished: test acc {format_percent(ev.get('accuracy'))}, best {best}")
        if ev.get("note"):  # e.g. shuffled labels: chance accuracy is the expected result, not a failure
            self._log(f"[{arch}] {ev['note']}")
        landed = str(demo_checkpoint(arch)) if self.mode == "demo" and demo_checkpoint(arch).exists() else best
        self.checkpoint_landed.emit(arch, landed)

    def _on_stopped(self, ev: dict, arch: str) -> None:
        path = ev.get("path", "")
        self.last[arch] = path
        if ev.get("step"):  # saved in the middle of an epoch: no longer any epoch's weights
            self.probes.forget_weights(arch, path)
        self._load_button(arch, path, "Load last")
        self._log(f"[{arch}] stopped after epoch {ev.get('epoch')}; resume from {path}")

    def _on_error(self, ev: dict, arch: str) -> None:
        self._show_error(ev.get("message", "the trainer reported an error"))

    def _on_all_finished(self, ev: dict, arch: str) -> None:
        self._log(f"all finished: {', '.join(ev.get('archs') or [])} in {ev.get('run_dir', '')}")

    # Every event of training/events.py SCHEMA has a handler here or is listed in IGNORED_EVENTS
    # (tests/app/test_training_tab.py checks both against the schema).
    EVENT_HANDLERS = {
        "run_started": _on_run_started,
        "epoch_end": _on_epoch_end,
        "checkpoint": _on_checkpoint,
        "probe": _on_probe,
        "finished": _on_finished,
        "stopped": _on_stopped,
        "error": _on_error,
        "all_finished": _on_all_finished,
    }
    IGNORED_EVENTS: frozenset[str] = frozenset()

    def _eta(self, arch: str, epoch: int, epochs: int) -> float:
        secs = self._epoch_seconds.get(arch) or [0.0]
        per = sum(secs[-5:]) / len(secs[-5:])
        later = self._plan[self._plan.index(arch) + 1:] if arch in self._plan else []
        return per * (epochs - epoch) + per * epochs * len(later)

    def _on_exited(self, code: int, crashed: bool, tail: str) -> None:
        self._set_running(False)
        took = format_duration(time.monotonic() - self._t_start)
        if self.process.stopping or code != 0 or crashed:
            # Where it stopped (the last finished epoch, %v/%m as during the run), not 100 %.
            if self.progress.maximum() == 0:  # stopped before the first epoch was planned
                self.progress.setRange(0, 1)
                self.progress.setValue(0)
            self.progress.setFormat(self.progress.format().replace("%p%", "%v/%m") + " \u2014 stopped"
                                    if self.process.stopping else self.progress.format())
        else:
            self.progress.setFormat("%p%")
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
        if self.process.stopping:
            self.state.setText(f"Stopped after {took}")
            self._log("stopped")
        elif code == 0 and not crashed:
            self.state.setText(f"Done in {took}")
        else:
            if self.error.isHidden():
                self._show_error(f"The trainer exited with code {code}" + (f":\n{tail}" if tail else "."))
            self.state.setText("Failed")
        self.run_finished.emit(code)

    # -- results table -----------------------------------------------------------------------
    def _row(self, arch: str) -> int:
        for r in range(self.results.rowCount()):
            if self.results.item(r, 0).data(Qt.ItemDataRole.UserRole) == arch:
                return r
        r = self.results.rowCount()
        self.results.insertRow(r)
        item = QTableWidgetItem(arch_label(arch))
        item.setData(Qt.ItemDataRole.UserRole, arch)
        self.results.setItem(r, 0, item)
        for c in (1, 2, 3):
            self.results.setItem(r, c, QTableWidgetItem("\u2014"))
        return r

    def _set_cell(self, arch: str, col: int, text: str) -> None:
        self.results.item(self._row(arch), col).setText(text)

    def _load_button(self, arch: str, path: str, label: str = "Load into slot") -> None:
        if not path:
            return
        btn = QToolButton()
        btn.setText(label)
        btn.setToolTip(path)
        btn.clicked.connect(lambda: self.load_checkpoint.emit(arch, path))
        self.results.setCellWidget(self._row(arch), 4, btn)

    def load_button(self, arch: str) -> QToolButton | None:
        return self.results.cellWidget(self._row(arch), 4)

    # -- text ---------------------------------------------------------------------------------
    def _log(self, text: str) -> None:
        self.log_view.appendPlainText(text)

    def _show_error(self, text: str) -> None:
        text = in_form_words(text)
        self.error.setText(text)
        self.error.show()
        self._log(f"ERROR: {text}")
        self.message.emit(text.splitlines()[0], 15000)



def kept_weights(arch_dir: Path) -> dict[str, int]:
    """--keep-every's files in an arch's folder: {path: epoch}."""
    out = {}
    for f in (arch_dir / "epochs").glob("epoch-*.pt"):
        try:
            out[str(f)] = int(f.stem.split("-", 1)[1])
        except ValueError:
            continue
    return out


def _line(text: str, placeholder: str) -> QLineEdit:
    edit = QLineEdit(text)
    edit.setPlaceholderText(placeholder)
    return edit


def _spin(low: int, high: int, value: int, step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(value)
    return spin


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    row.addStretch(1)
    return row


def _banner(name: str) -> QLabel:
    """A word-wrapped message line, hidden until there is something to say."""
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.hide()
    return label
