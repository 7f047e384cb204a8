"""Batches for the loop: a per-epoch plan decided in the main process, and the images.

Every random choice about the data (the epoch's order and each image's flip) is drawn from a
generator seeded by (seed, epoch) before the epoch starts. So an epoch's batches depend on
nothing else: not on the number of workers, nor on whether the run was stopped and resumed
in the middle of the epoch (the resumed loop simply skips the batches already done).
With several processes each batch of the plan is cut into one contiguous slice per process
(rank order), so together they train on exactly the batches one process would.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from gcam_desktop.imaging import ImageLoadError

from .data import Item, decode_resized
from gcam_desktop.distributed import shard_bounds

log = logging.getLogger("training")


def epoch_seed(seed: int, epoch: int) -> int:
    digest = hashlib.sha256(f"gcam-epoch:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class EpochPlan:
    """Which images, in which order and flipped or not, make each batch of an epoch.

    `batch_size` is the global batch, shared by `world` processes.
    """

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool = True, hflip: bool = False,
                 world: int = 1) -> None:
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.shuffle, self.hflip, self.world = shuffle, hflip, int(world)

    def steps(self) -> int:
        if self.n == 0:
            return 0
        full, rest = divmod(self.n, self.batch_size)
        # A last batch with less than two images per process would break batch norm (one image
        # has no variance): it joins the batch before it.
        return full + (1 if rest >= 2 * self.world or full == 0 else 0)

    def batch_len(self, step: int) -> int:
        """Images in batch `step` (the last one may be shorter or longer than batch_size)."""
        last = self.steps() - 1
        return self.batch_size if step < last else self.n - last * self.batch_size

    def batches(self, epoch: int) -> list[list[tuple[int, bool]]]:
        if self.shuffle or self.hflip:
            g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        order = torch.randperm(self.n, generator=g).tolist() if self.shuffle else list(range(self.n))
        flips = (torch.rand(self.n, generator=g) < 0.5).tolist() if self.hflip else [False] * self.n
        pairs = [(i, bool(flips[k])) for k, i in enumerate(order)]
        cuts = [pairs[k * self.batch_size:(k + 1) * self.batch_size] for k in range(self.steps())]
        if cuts:
            cuts[-1] = pairs[(len(cuts) - 1) * self.batch_size:]
        return cuts


class PlanSampler(Sampler[list[tuple[int, bool]]]):
    """Yields one epoch of the plan's batches from batch `start` on (set before iterating);
    with several processes, this process's slice of each (possibly empty in evaluation)."""

    def __init__(self, plan: EpochPlan, rank: int = 0) -> None:
        self.plan, self.rank = plan, int(rank)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = int(epoch), int(start)

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        for batch in self.plan.batches(self.epoch)[self.start:]:
            lo, hi = shard_bounds(len(batch), self.plan.world, self.rank)
            yield batch[lo:hi]

    def __len__(self) -> int:
        return max(0, self.plan.steps() - self.start)


class ImageSet(Dataset):
    """uint8 3 x S x S images and labels, from memory (`cache`) or decoded per access.

    Items are (index, flip) pairs. An image that fails to decode here (it changed on disk
    after the check before training) gives None, is warned about once, and its batch goes on
    without it (see `collate`).
    """

    def __init__(self, root: str | os.PathLike, items: Sequence[Item], size: int,
                 cache: torch.Tensor | None = None) -> None:
        self.root = Path(root)
        self.paths = [p for p, _ in items]
        self.labels = torch.tensor([y for _, y in items], dtype=torch.long)
        self.size = int(size)
        self.cache = cache
        self._warned: set[int] = set()

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> torch.Tensor | None:
        if self.cache is not None:
            return self.cache[i]
        try:
            arr = decode_resized(self.root / self.paths[i], self.size)
        except ImageLoadError as exc:
            if i not in self._warned:
                self._warned.add(i)
                log.warning("skipping %s: %s", exc.path, exc.reason)
            return None
        return torch.from_numpy(arr).permute(2, 0, 1)

    def __getitem__(self, item: tuple[int, bool]):
        i, flip = item
        img = self.image(i)
        if img is None:
            return None
        if flip:
            img = img.flip(-1)
        return img, self.labels[i]


def collate(batch):
    batch = [b for b in batch if b is not None]
    if not batch:
        return None
    return default_collate(batch)


def make_loader(dataset: ImageSet, plan: EpochPlan, workers: int, device: torch.device,
                rank: int = 0) -> tuple[DataLoader, PlanSampler]:
    sampler = PlanSampler(plan, rank)
    loader = DataLoader(
        dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate,
        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
        # Its own generator: creating an iterator then draws nothing from the global RNG, which
        # the model's random layers use (resume restores that RNG mid-epoch).
        generator=torch.Generator().manual_seed(plan.seed),
    )
    return loader, sampler


class Normalizer:
    """uint8 batch -> float, normalised on the model's device; the same arithmetic as
    imaging.preprocess (divide by 255, subtract mean, divide by std), so train matches test."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device) -> None:
        # The default dtype: float32, unless a caller chose float64 (the SyncBatchNorm equivalence
        # test does, so float32's rounding does not hide what it compares).
        dtype = torch.get_default_dtype()
        self.mean = torch.tensor(mean, dtype=dtype, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=dtype, device=device).view(1, 3, 1, 1)
        self.device = device

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).to(self.mean.dtype) / 255.0
        return (x - self.mean) / self.std
