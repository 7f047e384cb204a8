"""The trainer's event protocol: one JSON object per line on stdout, for the GUI (EVENTS.md).

`SCHEMA` is the single source of the protocol: EVENTS.md documents it and a test checks both
the document and real events from a trainer process against it. Torch-free.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import threading
import time
from typing import Any, Callable, Mapping

PROTOCOL = 1

# name -> {field: (JSON type(s), description)}; every event also has "event", "protocol", "time".
# Types: "str", "int", "number" (int or float), "bool", "object", "array", "null", joined by "|".
COMMON: dict[str, tuple[str, str]] = {
    "event": ("str", "the event name"),
    "protocol": ("int", f"protocol version, {PROTOCOL}; a reader should refuse versions it does not know"),
    "time": ("number", "Unix time in seconds when the event was written"),
}
SCHEMA: dict[str, dict[str, tuple[str, str]]] = {
    "run_started": {
        "arch": ("str", "architecture trained in this run part"),
        "run_dir": ("str", "the arch's folder (RUN_DIR/<arch>) holding its checkpoints and report"),
        "config": ("object", "the full configuration (also in RUN_DIR/config.json)"),
        "sizes": ("object", "images per split: {\"train\": int, \"val\": int, \"test\": int}"),
        "class_names": ("array", "class names in label order"),
        "skipped": ("int", "images left out because they could not be read"),
        "skipped_files": ("array", "up to 100 of them as {\"path\": str, \"reason\": str}, paths relative to the data folder"),
        "device": ("str", "torch device the model runs on, e.g. \"cpu\", \"cuda\""),
        "params": ("int", "number of model parameters"),
        "start_epoch": ("int", "epochs already done (non-zero when resuming)"),
        "epochs": ("int", "epochs the run ends after"),
        "steps_per_epoch": ("int", "optimizer steps per epoch"),
        "world_size": ("int", "training processes (1, or the number torchrun / --nproc-per-node started)"),
        "backend": ("str|null", "torch.distributed backend: \"nccl\" (CUDA) or \"gloo\" (CPU); null in one process"),
        "per_rank_batch": ("int", "images per process and step: the global --batch-size / world_size"),
        "data_loading": ("object", "{\"cached\": bool, \"reason\": str, \"decoded_gb\": number, \"budget_gb\": "
                                   "number or null, \"workers\": int}: images kept in memory or decoded per batch, and why"),
    },
    "epoch_end": {
        "arch": ("str", "architecture"),
        "epoch": ("int", "the epoch just finished, counted from 1"),
        "epochs": ("int", "total epochs of the run"),
        "train_loss": ("number", "mean cross-entropy over the epoch's training batches"),
        "train_acc": ("number", "running training accuracy in [0, 1] in train mode (augmented images, weights "
                      "changing, batch-norm statistics of each batch): not what the saved model does on these "
                      "images; report.json's `train_accuracy_eval` is that"),
        "val_loss": ("number|null", "validation loss; null when there is no validation split"),
        "val_acc": ("number|null", "validation accuracy in [0, 1]; null without validation split"),
        "lr": ("number", "learning rate at the end of the epoch"),
        "seconds": ("number", "wall seconds of the epoch (training and validation)"),
        "images_per_s": ("number", "training images per second in this epoch"),
    },
    "checkpoint": {
        "arch": ("str", "architecture"),
        "path": ("str", "checkpoint file just written (atomically): .../best.pt or .../last.pt, or with "
                        "--keep-every K .../epochs/epoch-NNN.pt (that epoch's weights, kept)"),
        "epoch": ("int", "epochs completed in the weights of that file"),
        "is_best": ("bool", "true for best.pt (best validation accuracy so far; the latest epoch without "
                             "a validation split or with --shuffle-labels)"),
    },
    "probe": {
        "arch": ("str", "architecture"),
        "epoch": ("int", "the epoch whose weights made these maps, counted from 1"),
        "file": ("str", "RUN_DIR/<arch>/probe/epoch-NNN.npz holding the same maps, the probabilities of every "
                        "class and the class names"),
        "layer": ("str", "the layer explained: the default layer the checkpoints name"),
        "method": ("str", "the explanation method, \"gradcam\""),
        "paths": ("array", "the probe images (absolute paths), the same every epoch"),
        "labels": ("array", "their true classes (label indices), also the classes explained"),
        "predictions": ("array", "the class the model predicts for each"),
        "confidence": ("array", "the probability of that prediction, per image"),
        "label_prob": ("array", "the probability of the true class, per image"),
        "grid": ("array", "[h, w]: the layer's grid, the size of each map"),
        "maps": ("array", "N x h x w Grad-CAM maps at the layer's grid, before normalisation (non-negative)"),
        "seconds": ("number", "wall seconds the probe took (explaining and writing the file)"),
    },
    "finished": {
        "arch": ("str", "architecture"),
        "split": ("str", "split the metrics were measured on: \"test\", or \"val\" without a test split"),
        "accuracy": ("number|null", "accuracy of best.pt on that split; null if it is empty"),
        "loss": ("number|null", "mean loss of best.pt on that split"),
        "metrics": ("object", "accuracy, per_class {name: {precision, recall, support}}, confusion"),
        "report": ("str", "path of report.json"),
        "best": ("str", "path of best.pt"),
        "best_epoch": ("int", "epoch of best.pt"),
        "best_val_acc": ("number|null", "its validation accuracy"),
        "shuffled_labels": ("bool", "trained on shuffled training labels (--shuffle-labels): validation and test "
                                    "accuracy at chance is then the expected result, and best.pt is the last epoch"),
        "note": ("str|null", "what to make of the result, in words (with shuffled labels: that chance accuracy "
                             "is expected, and whether the model fitted its shuffled labels); null when nothing"),
    },
    "stopped": {
        "arch": ("str", "architecture"),
        "epoch": ("int", "epochs fully completed"),
        "step": ("int", "optimizer steps done in the unfinished epoch: 0 at an epoch boundary, steps_per_epoch "
                        "when stopped during validation"),
        "path": ("str", "last.pt, from which --resume RUN_DIR continues exactly"),
    },
    "error": {
        "message": ("str", "what went wrong, naming the file or option at fault"),
        "arch": ("str|null", "architecture being trained when it happened, if any"),
    },
    "all_finished": {
        "archs": ("array", "architectures trained, in order"),
        "run_dir": ("str", "the run folder"),
        "results": ("object", "per arch {\"split\", \"accuracy\", \"best_val_acc\", \"best\", \"report\"}"),
    },
}

_TYPES = {"str": str, "int": int, "number": (int, float), "bool": bool, "object": dict, "array": list,
          "null": type(None)}


def check_event(obj: Mapping[str, Any]) -> list[str]:
    """Problems of one decoded event against SCHEMA ([] when it conforms)."""
    name = obj.get("event")
    if name not in SCHEMA:
        return [f"unknown event {name!r}"]
    problems = []
    fields = {**COMMON, **SCHEMA[name]}
    for key, (types, _) in fields.items():
        if key not in obj:
            problems.append(f"{name}: missing field {key!r}")
            continue
        allowed = tuple(_TYPES[t] for t in types.split("|"))
        value = obj[key]
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if not ok:
            problems.append(f"{name}.{key}: {type(value).__name__} is not {types}")
    extra = set(obj) - set(fields)
    if extra:
        problems.append(f"{name}: undocumented fields {sorted(extra)}")
    if obj.get("protocol") != PROTOCOL:
        problems.append(f"{name}: protocol {obj.get('protocol')!r} is not {PROTOCOL}")
    return problems


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null (strict JSON has no NaN), tuples lists, paths strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy / torch scalars
        return _clean(value.item())
    return str(value)


def make_event(name: str, **fields: Any) -> dict:
    if name not in SCHEMA:
        raise ValueError(f"unknown event {name!r}")
    return _clean({"event": name, "protocol": PROTOCOL, "time": round(time.time(), 3), **fields})


EventSink = Callable[[dict], None]


class JsonLinesWriter:
    """Writes events as UTF-8 JSON lines to a stream, one flush per event, thread-safe.

    A reader that went away (broken pipe) must not crash the run: the write error is remembered
    in `broken`, later events are dropped, and `on_broken` is called once (the trainer then
    stops cleanly, saving its state, since nobody is listening any more).
    """

    def __init__(self, stream: io.TextIOBase, on_broken: Callable[[], None] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._on_broken = on_broken
        self.broken = False

    def __call__(self, event: dict) -> None:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        with self._lock:
            if self.broken:
                return
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.broken = True
                if self._on_broken:
                    self._on_broken()


class StdoutGuard:
    """Reserve the real stdout for events; everything else that prints goes to stderr.

    The process's fd 1 is duplicated for the event stream, then fd 1 is pointed at stderr and
    `sys.stdout` replaced, so a stray print() in a library or a C extension writing to fd 1
    cannot corrupt the protocol. `restore()` undoes it (tests run the CLI in-process).
    """

    def __init__(self) -> None:
        self._saved_sys_stdout = sys.stdout
        self._saved_fd: int | None = None
        self._owns_stream = True
        try:
            fd = (sys.__stdout__ or sys.stdout).fileno()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            fd = None
        if fd is None:  # no Python-level stdout (a windowed frozen app), but a parent's pipe may be on fd 1
            try:
                os.fstat(1)
                fd = 1
            except OSError:
                fd = None
        if fd is None:  # nothing on fd 1 at all: nobody can read events
            self._owns_stream = sys.stdout is None
            self.stream: io.TextIOBase = sys.stdout if sys.stdout is not None else open(os.devnull, "w")
            return
        try:
            sys.stdout.flush()
        except (AttributeError, OSError, ValueError):
            pass
        event_fd = os.dup(fd)
        self.stream = open(event_fd, "w", encoding="utf-8", newline="\n", buffering=1, closefd=True)
        try:
            err_fd = (sys.__stderr__ or sys.stderr).fileno()
            self._saved_fd = os.dup(fd)
            os.dup2(err_fd, fd)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            self._saved_fd = None
        self._fd = fd
        sys.stdout = sys.stderr

    def restore(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass
        sys.stdout = self._saved_sys_stdout
        if self._saved_fd is not None:
            os.dup2(self._saved_fd, self._fd)
            os.close(self._saved_fd)
            self._saved_fd = None
        if self._owns_stream:
            try:
                self.stream.close()
            except (OSError, ValueError):
                pass
