"""Several processes on PyTorch's own torch.distributed, as torchrun starts them.

A command is distributed when torchrun's environment is present (WORLD_SIZE > 1, RANK,
LOCAL_RANK, MASTER_ADDR / MASTER_PORT): the trainer trains each process's slice of every batch
with DistributedDataParallel (NCCL on CUDA, gloo on the CPU), gcam-explain explains each
process's share of the images. Small control messages (stop requests, gathered results, the
decoded cache) always travel over a gloo group on the CPU, so they never wait on a GPU stream.
`World.single()` is the one-process case, where every collective here is the identity.
`launch()` starts such a group itself, through torch.distributed.run (what `torchrun` runs).
See docs/adr/0010-distributed-training.md.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import torch

log = logging.getLogger("gcam_desktop.distributed")
T = TypeVar("T")


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and "RANK" in os.environ


def env_rank() -> int:
    """This process's rank under torchrun (from its environment, before the group is joined); 0 otherwise."""
    return int(os.environ["RANK"]) if launched_by_torchrun() else 0


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    backend: str | None = None  # "nccl" or "gloo"; None in one process
    device: torch.device = torch.device("cpu")
    _control: Any = None  # the gloo group for control messages

    @classmethod
    def single(cls, device: torch.device) -> "World":
        return cls(device=device)

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict:
        return {"world_size": self.size, "backend": self.backend}

    # ------------------------------------------------------------------ collectives
    def any(self, flag: bool) -> bool:
        """True on every process when it is true on any (all processes must call it)."""
        if not self.distributed:
            return bool(flag)
        t = torch.tensor([1 if flag else 0], dtype=torch.int32)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX, group=self._control)
        return bool(t.item())

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over the processes, in float64."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        torch.distributed.all_reduce(t, group=self._control)
        return t.tolist()

    def gather(self, obj: T) -> list[T]:
        """Every process's `obj`, in rank order, on every process."""
        if not self.distributed:
            return [obj]
        out: list = [None] * self.size
        torch.distributed.all_gather_object(out, obj, group=self._control)
        return out

    def from_main(self, fn: Callable[[], T]) -> T:
        """`fn()` run on rank 0 only; its result, or the exception it raised, on every process."""
        if not self.distributed:
            return fn()
        box: list = [None]
        if self.main:
            try:
                box[0] = ("ok", fn())
            except Exception as exc:  # handed to every rank, raised there too
                box[0] = ("error", _picklable(exc))
        torch.distributed.broadcast_object_list(box, src=0, group=self._control)
        kind, value = box[0]
        if kind == "error":
            raise value
        return value

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers into every process's copy of `module`."""
        if not self.distributed:
            return
        with torch.no_grad():
            for t in module.state_dict().values():
                torch.distributed.broadcast(t, src=0)

    def gather_rows(self, local: torch.Tensor, counts: list[int]) -> torch.Tensor:
        """Concatenate each rank's rows (rank r holds counts[r] rows) on every process.

        Padded to equal sizes for gloo's all_gather; used for the decoded image cache.
        """
        if not self.distributed:
            return local
        most = max(counts)
        padded = torch.zeros((most, *local.shape[1:]), dtype=local.dtype)
        padded[:len(local)] = local
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        torch.distributed.all_gather(parts, padded, group=self._control)
        return torch.cat([p[:n] for p, n in zip(parts, counts)])

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier(group=self._control)

    def close(self) -> None:
        if self.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def init_world(device_name: str | None, gloo_only: bool = False) -> World:
    """Join the process group torchrun set up, or the one-process world when there is none.

    Device: with CUDA (asked for, or "auto" and present) each process takes the GPU of its local
    rank and NCCL (unless `gloo_only`); otherwise the CPU and gloo. Apple's MPS has no DistributedDataParallel backend.
    """
    from gcam_desktop.models import pick_device

    if not launched_by_torchrun():
        try:
            return World.single(pick_device(device_name or "auto"))
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"--device: {exc}") from exc
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(size)))
    name = device_name or "auto"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device_name}: CUDA is not available here")
        if device.index is None:  # one GPU per process: the local rank's
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"--device {device_name}: distributed training runs on CUDA (NCCL) or the CPU (gloo), "
                         f"not on {device.type}")
    if gloo_only:  # work that exchanges only small results on the CPU (gcam-explain) needs no NCCL
        backend = "gloo"
    torch.distributed.init_process_group(backend, device_id=device if backend == "nccl" else None)
    control = torch.distributed.new_group(backend="gloo") if backend == "nccl" else None
    return World(rank, size, local_rank, local_size, backend, device, control)


def shard_bounds(n: int, parts: int, index: int) -> tuple[int, int]:
    """[lo, hi) of part `index` when n items are cut into `parts` contiguous, near-equal parts."""
    base, extra = divmod(n, parts)
    lo = index * base + min(index, extra)
    return lo, lo + base + (1 if index < extra else 0)


# ------------------------------------------------------------------------------ launching

def without_option(argv: Sequence[str], name: str) -> list[str]:
    """argv less `name VALUE` / `name=VALUE` (every occurrence)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == name:
            skip = True
        elif not item.startswith(name + "="):
            out.append(item)
    return out


OVERSUBSCRIBE_FLAG = "--allow-oversubscribe"


def process_slots(device_name: str | None = None) -> tuple[int, str] | None:
    """(how many, of what) processes this machine runs one each of: its CUDA GPUs, or its CPU
    cores when the processes train on the CPU (gloo); None where the processes refuse the
    device themselves (MPS, CUDA asked for but absent)."""
    kind = (device_name or "auto").split(":")[0]
    if kind in ("auto", "cuda") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return n, "CUDA GPU" if n == 1 else "CUDA GPUs"
    if kind in ("auto", "cpu"):
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return n, "CPU core" if n == 1 else "CPU cores"
    return None


def too_many_processes(nproc: int, device_name: str | None = None) -> str | None:
    """Why `nproc` processes would oversubscribe this machine's devices, or None.

    64 processes on a 2-core machine took 13 GB before the first step: each holds its own
    model, optimizer and data, and they share the cores. Refused unless the user insists.
    """
    slots = process_slots(device_name)
    if slots is None or nproc <= slots[0]:
        return None
    n, what = slots
    return (f"--nproc-per-node {nproc}: more processes than the {n} {what} here (each process keeps its own "
            f"copy of the model and data, and they would share the {what}); use at most {n}, or add "
            f"{OVERSUBSCRIBE_FLAG} to start them anyway")


def launch(command: Sequence[str], nproc: int, write_error: Callable[[str], None] | None = None,
           shutdown_timeout: int = 600, *, device: str | None = None, allow_oversubscribe: bool = False) -> int:
    """Run `command` in `nproc` processes on this machine with torchrun's launcher; exit status.

    The processes inherit stdout (nothing of the launcher's own goes there). SIGTERM / SIGINT
    to the launcher are forwarded to them; they get `shutdown_timeout` seconds to finish before
    torchrun kills them. When a process fails and rank 0 did not end with status 1 or 2 (after
    which it has reported the problem itself), `write_error(message)` is called. More processes
    than devices (see too_many_processes; `device` as the processes will pick it) are refused
    with status 2 and one line, through `write_error` or on stderr, unless `allow_oversubscribe`.
    """
    problem = None if allow_oversubscribe else too_many_processes(nproc, device)
    if problem:
        if write_error is not None:
            write_error(problem)
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = torchrun.parse_args(["--nproc-per-node", str(nproc), "--shutdown-timeout", str(shutdown_timeout),
                                "--no-python", *command])
    saved, sys.stdout = sys.stdout, sys.stderr  # torchrun's own messages must not reach stdout
    try:
        torchrun.run(args)
        return 0
    except SignalException as exc:  # forwarded to the processes, which stopped cleanly
        log.info("%s forwarded to the %d processes; they have exited", exc.sigval.name, nproc)
        return 0
    except ChildFailedError as exc:
        failures = exc.failures
        first_rank = min(failures)
        rank0 = failures.get(0)
        if write_error is not None and (rank0 is None or rank0.exitcode not in (1, 2)):
            sys.stdout = saved
            write_error(f"process {first_rank} of {nproc} failed (exit status {failures[first_rank].exitcode}); "
                        f"see its messages on stderr")
        code = rank0.exitcode if rank0 is not None else failures[first_rank].exitcode
        return code if code in (1, 2) else 1
    finally:
        sys.stdout = saved
