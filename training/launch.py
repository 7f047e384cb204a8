"""`gcam-train --nproc-per-node N ...`: torchrun's launch, started by the trainer itself.

The launch is PyTorch's own (`torch.distributed.run`, what the `torchrun` command runs), so
the processes, their environment and rendezvous are exactly torchrun's; users need not know
the command. Each process runs the trainer again without the option (`python -m training`, or
in the frozen app `<app> train`), sees torchrun's environment and joins the group. Rank 0
writes the events on the stdout they share; SIGTERM / SIGINT to the launcher reach every
process, they agree on the step to stop at, rank 0 saves last.pt, and the launcher exits 0.
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from gcam_desktop.distributed import launch as _launch, without_option

# Seconds torchrun waits, after forwarding a stop signal, before it kills the processes: time
# for the current step and for writing last.pt (a ResNet50 with Adam's state is ~280 MB).
SHUTDOWN_TIMEOUT_S = 600


def worker_command(argv: Sequence[str]) -> list[str]:
    """The command each process runs: this trainer, the same way it was started."""
    if getattr(sys, "frozen", False):  # the desktop bundle: sys.executable is the app, `train` its trainer
        return [sys.executable, "train", *argv]
    return [sys.executable, "-m", "training", *argv]


def launch(argv: Sequence[str], nproc: int, write_error: Callable[[str], None], *, device: str | None = None,
           allow_oversubscribe: bool = False) -> int:
    """Run the trainer (argv without --nproc-per-node) in `nproc` processes on this machine."""
    command = worker_command(without_option(argv, "--nproc-per-node"))
    return _launch(command, nproc, lambda m: write_error(f"training {m}"), SHUTDOWN_TIMEOUT_S, device=device,
                   allow_oversubscribe=allow_oversubscribe)
