"""The training loop for one architecture: epochs, evaluation, checkpoints, stop and resume.

Resume is exact (see docs/adr/0004-trainer-data-and-resume.md): last.pt records the position
(epochs done, optimizer steps done in the current epoch), the model, optimizer, scheduler,
grad-scaler and RNG states and the epoch's running sums; the epoch's batch plan is a function
of (seed, epoch), so the resumed loop skips the steps already done and continues with the very
batches the uninterrupted run would have seen.

With several processes (gcam_desktop/distributed.py) the model is wrapped in
DistributedDataParallel, each process trains its slice of every batch, stop requests are agreed
on after every step (so all stop at the same one), evaluation results are gathered so the
figures are those of one process, and rank 0 alone writes files.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from gcam_desktop.models import IMAGENET_MEAN, IMAGENET_STD, build_model, default_layer_for, make_meta, read_checkpoint

from .batches import EpochPlan, ImageSet, Normalizer, make_loader
from .checkpoints import CheckpointWriter, init_from, init_source, kept_path
from .config import TrainConfig
from gcam_desktop.distributed import World
from gcam_desktop.files import write_json, write_text
from .metrics import classification_report, read_history
from .probe import Probe, ProbeChoice, drop_after, epoch_file
from .progress import progress_bar
from .state import capture_rng, restore_rng
from .stopping import HOLDING, StopFlag

log = logging.getLogger("training")
STATE_FORMAT = 1
Emit = Callable[..., None]


@dataclass
class PreparedData:
    root: str
    class_names: list[str]
    sets: dict[str, ImageSet]  # "train", "val", "test"
    skipped: list[dict]
    label_shuffle: dict | None = None  # --shuffle-labels: data.shuffle_train_labels' record

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.sets.items()}


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: TrainConfig, optimizer, total_steps: int):
    """Stepped once per optimizer step (so a mid-epoch resume lands on the same rate)."""
    if cfg.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=max(total_steps, 1),
                                                   pct_start=0.25)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    return None


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class ArchTrainer:
    def __init__(self, cfg: TrainConfig, arch: str, data: PreparedData, run_dir: Path, emit: Emit,
                 stop: StopFlag, device: torch.device, workers: int, world: World | None = None,
                 started: dict | None = None, probe: ProbeChoice | None = None) -> None:
        self.cfg, self.arch, self.data, self.dir = cfg, arch, data, Path(run_dir)
        self.emit, self.stop, self.device, self.workers = emit, stop, device, workers
        self.world = world if world is not None else World.single(device)
        self.started = started or {}  # extra run_started fields (world, data path)
        self.last_path, self.best_path = self.dir / "last.pt", self.dir / "best.pt"
        self.metrics_path, self.report_path = self.dir / "metrics.jsonl", self.dir / "report.json"
        self.amp = bool(cfg.amp and device.type == "cuda")
        if cfg.amp and not self.amp:
            log.warning("--amp applies on CUDA only; training in float32 on %s", device.type)
        self.plan = EpochPlan(len(data.sets["train"]), cfg.batch_size, cfg.seed, shuffle=True, hflip=cfg.hflip,
                              world=self.world.size)
        self.steps_per_epoch = self.plan.steps()
        self.normalize = Normalizer(IMAGENET_MEAN, IMAGENET_STD, device)
        self.history: list[dict] = []
        self.best_val_acc: float | None = None
        self.best_epoch = 0
        self.writer = CheckpointWriter(self._written)
        self.probe_choice = probe
        self.probe: Probe | None = None

    # ------------------------------------------------------------------ setup
    def _build(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)  # the same initial weights for a given seed
        self.model = build_model(self.arch, len(self.data.class_names))
        init = cfg.init_for(self.arch)
        if init:
            log.info("%s: %s", self.arch, init_from(self.model, init_source(self.arch, init)))
        if cfg.sync_bn and self.world.distributed:
            from .sync_bn import convert_sync_bn

            self.model = convert_sync_bn(self.model, self.device)
        self.model.to(self.device)
        self.net = self.model  # what training steps call: the DistributedDataParallel wrapper when distributed
        self.optimizer = make_optimizer(cfg, self.model.parameters())
        self.scheduler = make_scheduler(cfg, self.optimizer, cfg.epochs * self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.params = sum(p.numel() for p in self.model.parameters())

    def _meta(self, epoch: int, metrics: dict) -> dict:
        recipe = self.cfg.recipe()
        if self.data.label_shuffle is not None:  # which permutation: seed, stream, labels changed
            recipe["label_shuffle"] = dict(self.data.label_shuffle)
        meta = make_meta(self.arch, self.data.class_names, self.cfg.input_size, IMAGENET_MEAN, IMAGENET_STD,
                         recipe=recipe, epoch=epoch, metrics=metrics)
        meta["data"] = self.data.root
        return meta

    def _state(self, epochs_done: int, step: int, accum: dict | None) -> dict:
        return {
            "trainer_state": STATE_FORMAT, "arch": self.arch, "epochs_done": epochs_done, "step": step,
            "steps_per_epoch": self.steps_per_epoch, "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(), "rng": capture_rng(), "accum": accum,
            "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch, "world_size": self.world.size,
        }

    def _resume(self) -> tuple[int, int, dict | None]:
        """Restore from last.pt when there is one: (epochs done, steps done, running sums)."""
        if not self.last_path.exists():
            return 0, 0, None
        sd, meta, st = read_checkpoint(self.last_path)
        if st.get("trainer_state") != STATE_FORMAT or st.get("arch") != self.arch:
            raise ValueError(f"{self.last_path}: holds no training state of this trainer for {self.arch}")
        saved_world = int(st.get("world_size", 1))
        if st["steps_per_epoch"] != self.steps_per_epoch and (saved_world == self.world.size or st["step"]):
            why = ("the dataset changed" if saved_world == self.world.size else
                   f"with {self.world.size} processes instead of {saved_world} the short last batch is "
                   f"merged differently; resume with {saved_world} processes, or from an epoch's end")
            raise ValueError(f"{self.last_path}: saved with {st['steps_per_epoch']} steps per epoch, but the "
                             f"data now gives {self.steps_per_epoch}; {why}, cannot resume exactly")
        if saved_world != self.world.size:
            log.warning("%s: last.pt was saved by %d process%s and continues with %d: the same global batches "
                        "follow, but batch-norm statistics%s and float sums are per process, so the weights "
                        "will not be bit-identical to an uninterrupted %d-process run",
                        self.arch, saved_world, "es" if saved_world > 1 else "", self.world.size,
                        "" if self.cfg.sync_bn else " (no --sync-bn)", saved_world)
        self.model.load_state_dict(sd)
        self.optimizer.load_state_dict(st["optimizer"])
        if self.scheduler is not None and st.get("scheduler"):
            self.scheduler.load_state_dict(st["scheduler"])
        self.scaler.load_state_dict(st["scaler"])
        self.best_val_acc, self.best_epoch = st.get("best_val_acc"), int(st.get("best_epoch", 0))
        restore_rng(st["rng"])
        epochs_done, step = int(st["epochs_done"]), int(st["step"])
        # metrics.jsonl may hold a line written after last.pt (a kill in between): drop it.
        self.history = [h for h in read_history(self.metrics_path) if h["epoch"] <= epochs_done]
        if self.world.main:
            write_text(self.metrics_path, "".join(json.dumps(h) + "\n" for h in self.history))
        log.info("%s: resuming after epoch %d%s", self.arch, epochs_done, f", step {step}" if step else "")
        accum = st.get("accum")
        if accum is not None and (self.world.distributed or "ranks" in accum):
            accum = self._own_sums(accum)
        return epochs_done, step, accum

    def _own_sums(self, accum: dict) -> dict:
        """This process's share of an epoch's running sums saved by a stop.

        Same number of processes: each takes back its own sums (so the epoch's metrics come out
        bit-identical); another number: rank 0 carries the sums of all, the others start at 0.
        """
        ranks = accum.pop("ranks", None)
        if ranks is not None and len(ranks) == self.world.size:
            loss_sum, correct, seen = ranks[self.world.rank].tolist()
        elif self.world.main:
            return accum
        else:
            loss_sum, correct, seen = 0.0, 0, 0
        return {**accum, "loss_sum": torch.tensor(loss_sum, dtype=torch.float32),
                "correct": torch.tensor(int(correct), dtype=torch.long), "seen": int(seen)}

    def _written(self, path: Path, meta: dict) -> None:
        self.emit("checkpoint", arch=self.arch, path=str(path), epoch=int(meta["epoch"]),
                  is_best=path == self.best_path)

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._eval_loaders: dict[str, Any] = {}
        self._build()
        start_epoch, start_step, accum = self._resume()
        if self.world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(self.model, device_ids=[self.device] if self.device.type == "cuda" else None)
        cfg = self.cfg
        self.emit("run_started", arch=self.arch, run_dir=str(self.dir), config=cfg.to_json(),
                  sizes=self.data.sizes(), class_names=self.data.class_names,
                  skipped=len(self.data.skipped), skipped_files=self.data.skipped[:100],
                  device=str(self.device), params=self.params, start_epoch=start_epoch,
                  epochs=cfg.epochs, steps_per_epoch=self.steps_per_epoch, **self.started)
        loader, sampler = make_loader(self.data.sets["train"], self.plan, self.workers, self.device, self.world.rank)
        try:
            self._start_probe(start_epoch, start_step)
            if self._stop_agreed():  # asked to stop while the data was being prepared
                return self._stopped(start_epoch, start_step, accum)
            for epoch in range(start_epoch, cfg.epochs):
                sampler.set_epoch(epoch, start_step)
                accum, step = self._train_epoch(loader, epoch, start_step, accum)
                if step < self.steps_per_epoch:
                    return self._stopped(epoch, step, accum)
                t_val = time.perf_counter()
                val = self._evaluate("val") if len(self.data.sets["val"]) else {"loss": None, "acc": None}
                if val is None:
                    return self._stopped(epoch, step, accum)
                accum["seconds"] += time.perf_counter() - t_val
                self._end_epoch(epoch, accum, val)
                self._run_probe(epoch + 1)
                start_step, accum = 0, None
                if self._stop_agreed():
                    return self._stopped(epoch + 1, 0, None)
            return self._finish()
        finally:
            self.writer.close()

    def _start_probe(self, epochs_done: int, step: int) -> None:
        """Rank 0's probe (training/probe.py). A resumed run drops the files of epochs it redoes,
        and probes the weights it resumed from when that epoch's file is missing (a stop or kill
        between last.pt and the probe's file)."""
        if self.probe_choice is None or not self.world.main:
            return
        drop_after(self.dir, epochs_done)
        self.probe = Probe(self.probe_choice, self.data.sets["val"], self.normalize, self.data.root, self.arch,
                           default_layer_for(self.arch, self.cfg.input_size), self.data.class_names, self.dir)
        if epochs_done and not step and not epoch_file(self.dir, epochs_done).exists():
            self._run_probe(epochs_done)

    def _run_probe(self, epoch: int) -> None:
        """Explain the probe images with the unwrapped model; the engine leaves it as it found it
        (its mode, gradient flags, no hooks) and draws no random numbers, so training goes on untouched."""
        if self.probe is None:
            return
        fields = self.probe.run(self.model, epoch)
        if fields is not None:
            self.emit("probe", **fields)

    def _stop_agreed(self) -> bool:
        """Whether to stop now: on every process alike (all must call it at the same points)."""
        return self.world.any(self.stop.is_set())

    def _hold_until_stop(self) -> None:
        """Wait for a stop request (every process polls together: one of them may be the only
        one to hear it, e.g. the stdin line)."""
        log.info("%s: %s after step %d until a stop is requested (test hook)", self.arch, HOLDING, self.stop.steps)
        while not self._stop_agreed():
            self.stop.wait(0.05)

    def _train_epoch(self, loader, epoch: int, step: int, accum: dict | None) -> tuple[dict, int]:
        """Train from `step` to the end of the epoch or until a stop; returns (sums, steps done)."""
        dev = self.device
        if accum is None:
            accum = {"loss_sum": torch.zeros((), device=dev), "correct": torch.zeros((), dtype=torch.long, device=dev),
                     "seen": 0, "seconds": 0.0, "train_seconds": 0.0}
        else:
            accum = {**accum, "loss_sum": accum["loss_sum"].to(dev), "correct": accum["correct"].to(dev)}
        if step >= self.steps_per_epoch:
            return accum, step
        self.net.train()
        world = self.world
        bar = progress_bar(self.steps_per_epoch, step, f"{self.arch} {epoch + 1}/{self.cfg.epochs}")
        t0 = time.perf_counter()
        try:
            for batch in loader:
                # None: every image of the batch (of this process's slice) vanished from disk. The
                # processes must agree to skip such a step: DistributedDataParallel steps together.
                skip = batch is None if not world.distributed else world.any(batch is None)
                if not skip:
                    x, y = batch
                    x, y = self.normalize(x), y.to(dev, non_blocking=True)
                    with torch.autocast(dev.type, dtype=torch.float16, enabled=self.amp):
                        logits = self.net(x)
                        if world.distributed:
                            # Gradients are averaged over processes; scaled like this, each image of
                            # the global batch weighs 1/len(batch), as in one process, even when the
                            # last batch does not split evenly.
                            loss_sum = F.cross_entropy(logits, y, reduction="sum")
                            loss = loss_sum * (world.size / self.plan.batch_len(step))
                        else:
                            loss = F.cross_entropy(logits, y)
                            loss_sum = loss * y.shape[0]
                    self.optimizer.zero_grad(set_to_none=True)
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                    accum["loss_sum"] += loss_sum.detach().float()
                    accum["correct"] += (logits.detach().argmax(1) == y).sum()
                    accum["seen"] += int(y.shape[0])
                if self.scheduler is not None:
                    self.scheduler.step()
                step += 1
                if bar is not None:
                    bar.update(1)
                    if step % 10 == 0 and accum["seen"]:
                        bar.set_postfix(loss=f"{accum['loss_sum'].item() / accum['seen']:.3f}")
                if self.stop.step_done():  # a test hook (stopping.HOLD_AFTER_ENV)
                    self._hold_until_stop()
                if self._stop_agreed():
                    break
        finally:
            if bar is not None:
                bar.close()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            dt = time.perf_counter() - t0
            accum["seconds"] += dt
            accum["train_seconds"] += dt
        return accum, step

    @torch.no_grad()
    def _evaluate(self, split: str, predictions: bool = False) -> dict | None:
        """Loss and accuracy on a split (None when a stop came first).

        Each process evaluates its slice of every batch; the per-image results are gathered in
        the plan's order, so every process gets the figures one process would compute.
        """
        data = self.data.sets[split]
        if split not in self._eval_loaders:  # kept: persistent workers are not respawned per epoch
            plan = EpochPlan(len(data), self.cfg.batch_size, 0, shuffle=False, world=self.world.size)
            self._eval_loaders[split] = make_loader(data, plan, self.workers, self.device, self.world.rank)
        loader, sampler = self._eval_loaders[split]
        sampler.set_epoch(0)
        self.model.eval()
        steps: list = []  # per batch: (labels, predictions, per-image losses), None when empty
        for batch in loader:
            if self._stop_agreed():
                return None
            if batch is None:
                steps.append(None)
                continue
            x, y = batch
            x, y = self.normalize(x), y.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                logits = self.model(x)
            steps.append((y, logits.argmax(1), F.cross_entropy(logits.float(), y, reduction="none")))
        local = [None if s is None else tuple(t.cpu() for t in s) for s in steps]
        parts = self.world.gather(local)
        merged = [part[k] for k in range(len(local)) for part in parts if part[k] is not None]
        if not merged:
            return {"loss": None, "acc": None, "n": 0, "labels": [], "preds": []}
        labels, preds, losses = (torch.cat([m[i] for m in merged]) for i in range(3))
        n = len(labels)
        out = {"loss": losses.double().sum().item() / n, "acc": (preds == labels).sum().item() / n, "n": n,
               "labels": [], "preds": []}
        if predictions:
            out["labels"], out["preds"] = labels.tolist(), preds.tolist()
        return out

    def _end_epoch(self, epoch: int, accum: dict, val: dict) -> None:
        # The previous epoch's files are on disk before this epoch's are queued: at most one
        # epoch of snapshots waits in memory, and the writes stay in order.
        main = self.world.main
        if main:
            self.writer.wait()
        done = epoch + 1
        accum = self._global_sums(accum)
        seen = max(accum["seen"], 1)
        row = {"epoch": done, "train_loss": _num(accum["loss_sum"].item() / seen),
               "train_acc": accum["correct"].item() / seen, "val_loss": _num(val["loss"]),
               "val_acc": _num(val["acc"]), "lr": self.optimizer.param_groups[0]["lr"],
               "seconds": accum["seconds"],
               "images_per_s": accum["seen"] / accum["train_seconds"] if accum["train_seconds"] else 0.0}
        self.history.append(row)
        metrics = {k: row[k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")}
        # Without a validation split the latest weights count as the best; so they do with shuffled
        # labels, where validation accuracy is at chance by design and the test wants the model that
        # fitted the shuffled labels longest (docs/adr/0027-shuffled-labels.md).
        improved = (row["val_acc"] is None or self.best_val_acc is None or self.data.label_shuffle is not None
                    or row["val_acc"] > self.best_val_acc)
        if improved:
            self.best_val_acc, self.best_epoch = row["val_acc"], done
        if not main:
            return
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        self.emit("epoch_end", arch=self.arch, epochs=self.cfg.epochs, **row)
        log.info("%s epoch %d/%d  train loss %.4f acc %.3f (train mode) | val loss %s acc %s | %.1f s, %.1f img/s",
                 self.arch, done, self.cfg.epochs, row["train_loss"] or float("nan"), row["train_acc"],
                 _fmt(row["val_loss"], ".4f"), _fmt(row["val_acc"], ".3f"), row["seconds"], row["images_per_s"])

        if improved:
            self.writer.submit(self.best_path, self.model, self._meta(done, metrics))
        # last.pt after every epoch: a kill loses at most the epoch in progress.
        self.writer.submit(self.last_path, self.model, self._meta(done, metrics), self._state(done, 0, None))
        if self.cfg.keep_every and done % self.cfg.keep_every == 0:  # weights only: no training state
            self.writer.submit(kept_path(self.dir, done), self.model, self._meta(done, metrics))

    def _global_sums(self, accum: dict) -> dict:
        """The epoch's running sums of all processes together (one process: as they are)."""
        if not self.world.distributed:
            return accum
        loss_sum, correct, seen = self.world.sum([accum["loss_sum"].item(), accum["correct"].item(), accum["seen"]])
        return {**accum, "loss_sum": torch.tensor(loss_sum, dtype=torch.float32), "seen": int(seen),
                "correct": torch.tensor(int(correct), dtype=torch.long)}

    def _stopped(self, epochs_done: int, step: int, accum: dict | None) -> dict:
        if step > 0 and accum is not None and self.world.distributed:
            ranks = self.world.gather([accum["loss_sum"].item(), accum["correct"].item(), accum["seen"]])
            accum = {**self._global_sums(accum), "ranks": torch.tensor(ranks, dtype=torch.float64)}
        if not self.world.main:  # every process stopped at this same step; rank 0 saves
            log.info("%s: stopped after epoch %d%s; rank 0 saves last.pt", self.arch, epochs_done,
                     f" and step {step}" if step else "")
            return {"status": "stopped", "arch": self.arch, "epoch": epochs_done, "step": step}
        self.writer.wait()
        if step > 0 and accum is not None:
            saved = {**accum, "loss_sum": accum["loss_sum"].detach().cpu(), "correct": accum["correct"].detach().cpu()}
            last = self.history[-1] if self.history else {}
            metrics = {k: last.get(k) for k in ("train_loss", "train_acc", "val_loss", "val_acc")}
            self.writer.submit(self.last_path, self.model, self._meta(epochs_done, metrics),
                               self._state(epochs_done, step, saved), background=False)
        elif not self.last_path.exists():  # stopped before the first step: nothing to lose, but resumable
            self.writer.submit(self.last_path, self.model, self._meta(epochs_done, {}),
                               self._state(epochs_done, 0, None), background=False)
        log.info("%s: stopped after epoch %d%s; resume with --resume %s", self.arch, epochs_done,
                 f" and step {step}" if step else "", self.dir.parent)
        self.emit("stopped", arch=self.arch, epoch=epochs_done, step=step, path=str(self.last_path))
        return {"status": "stopped", "arch": self.arch, "epoch": epochs_done, "step": step}

    def _finish(self) -> dict:
        """Test best.pt (on the test split, else on validation) and write report.json."""
        split = "test" if len(self.data.sets["test"]) else "val"
        if self.world.main:
            self.writer.wait()
            sd, meta, _ = read_checkpoint(self.best_path)
            self.model.load_state_dict(sd)
        self.world.broadcast_module(self.model)  # best.pt's weights in every process, from rank 0
        result = self._evaluate(split, predictions=True)
        if result is None:
            return self._stopped(self.cfg.epochs, 0, None)
        # The saved model on its own training images, in eval mode (running batch-norm
        # statistics, no flips): what the per-epoch train_acc (train mode) is not.
        train_check = self._evaluate("train")
        if train_check is None:
            return self._stopped(self.cfg.epochs, 0, None)
        if not self.world.main:
            return {"status": "finished", "arch": self.arch, "split": split, "accuracy": result["acc"],
                    "best_val_acc": self.best_val_acc, "best": str(self.best_path), "report": str(self.report_path)}
        report = classification_report(result["labels"], result["preds"], self.data.class_names)
        secs = [h["seconds"] for h in self.history]
        ips = [h["images_per_s"] for h in self.history]
        full = {
            "arch": self.arch, "split": split, "accuracy": report["accuracy"], "loss": _num(result["loss"]),
            "per_class": report["per_class"], "confusion": report["confusion"],
            "class_names": self.data.class_names, "n": report["n"], "params": self.params,
            "epochs": self.cfg.epochs, "best_epoch": self.best_epoch, "best_val_acc": self.best_val_acc,
            "seconds_per_epoch": sum(secs) / len(secs) if secs else None,
            "train_images_per_s": sum(ips) / len(ips) if ips else None,
            "device": str(self.device), "sizes": self.data.sizes(), "skipped": len(self.data.skipped),
            "world_size": self.world.size,
            "best": str(self.best_path), "history": self.history,
            "train_accuracy_eval": train_check["acc"],
        }
        full |= shuffle_report(self.data.label_shuffle, len(self.data.class_names), split, full["accuracy"],
                               train_check["acc"])
        self._warn_if_train_mode_flatters(train_check["acc"])
        write_json(self.report_path, full)
        metrics = {k: full[k] for k in ("accuracy", "per_class", "confusion")}
        self.emit("finished", arch=self.arch, split=split, accuracy=full["accuracy"], loss=full["loss"],
                  metrics=metrics, report=str(self.report_path), best=str(self.best_path),
                  best_epoch=self.best_epoch, best_val_acc=self.best_val_acc,
                  shuffled_labels=full["shuffled_labels"] is not None, note=full["note"])
        log.info("%s: %s accuracy %s (best.pt from epoch %d); report %s", self.arch, split,
                 _fmt(full["accuracy"], ".4f"), self.best_epoch, self.report_path)
        if full["note"]:
            log.info("%s: %s", self.arch, full["note"])
        return {"status": "finished", "arch": self.arch, "split": split, "accuracy": full["accuracy"],
                "best_val_acc": self.best_val_acc, "best": str(self.best_path), "report": str(self.report_path)}


    def _warn_if_train_mode_flatters(self, eval_acc: float | None) -> None:
        running = self.history[-1]["train_acc"] if self.history else None
        if eval_acc is not None and running is not None and running - eval_acc > 0.1:
            log.warning("%s: training accuracy was %.3f while training (train mode: batch statistics of each "
                        "batch, flipped images), but best.pt classifies %.3f of its own training images right; "
                        "tiny batches or data make the two differ, so judge the model by its validation and "
                        "test accuracy", self.arch, running, eval_acc)


# With shuffled labels, the share of its own (shuffled) training labels best.pt must get right for
# the data randomisation test to mean something: below it the model has not fitted them yet.
FITTED = 0.9
SHUFFLED_NOTE = "trained on shuffled labels: validation accuracy at chance is the expected result"


def shuffle_report(shuffle: dict | None, classes: int, split: str, accuracy: float | None,
                   train_acc: float | None) -> dict:
    """report.json's "shuffled_labels" (the permutation, chance, what best.pt is) and "note":
    a run on shuffled labels is judged by how well it fitted them, not by its validation accuracy."""
    if shuffle is None:
        return {"shuffled_labels": None, "note": None}
    chance = 1.0 / classes
    note = (f"{SHUFFLED_NOTE} (chance {chance:.3f} with {classes} classes; {split} accuracy "
            f"{_fmt(accuracy, '.3f')}; best.pt, the last epoch, gets {_fmt(train_acc, '.3f')} of its shuffled "
            f"training labels right)")
    if train_acc is None or train_acc < FITTED:
        note += (f"; it has not fitted the shuffled labels yet (below {FITTED:.0%}): train longer before using "
                 f"it for the data randomisation test")
    record = {**shuffle, "chance": chance, "train_accuracy": train_acc, "fitted": (train_acc or 0.0) >= FITTED,
              "best": "the last epoch (validation accuracy, at chance by design, does not choose)"}
    return {"shuffled_labels": record, "note": note}


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)
