"""`gcam-train --nproc-per-node N ...`: torchrun's launch, started by the trainer itself.

The launch is PyTorch's own (`torch.distributed.run`, what the `torchrun` command runs), so
the processes, their environment and rendezvous are exactly torchrun's; users need not know
the command. Each process runs the trainer again without the option (`python -m training`, or
in the frozen app `<app> train`), sees torchrun's environment and joins the group.

The launcher itself writes nothing on stdout: the processes inherit it, and rank 0 writes the
events there. SIGTERM / SIGINT to the launcher reach every process (torchrun forwards them);
they agree on the step to stop at, rank 0 saves last.pt, and the launcher exits 0.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable, Sequence

log = logging.getLogger("training")
# Seconds torchrun waits, after forwarding a stop signal, before it kills the processes: time
# for the current step and for writing last.pt (a ResNet50 with Adam's state is ~280 MB).
SHUTDOWN_TIMEOUT_S = 600


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


def worker_command(argv: Sequence[str]) -> list[str]:
    """The command each process runs: this trainer, the same way it was started."""
    if getattr(sys, "frozen", False):  # the desktop bundle: sys.executable is the app, `train` its trainer
        return [sys.executable, "train", *argv]
    return [sys.executable, "-m", "training", *argv]


def launch(argv: Sequence[str], nproc: int, write_error: Callable[[str], None]) -> int:
    """Run the trainer in `nproc` processes on this machine; the exit status for the launcher."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = torchrun.parse_args(["--nproc-per-node", str(nproc), "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_S),
                                "--no-python", *worker_command(argv)])
    log.info("starting %d processes (torch.distributed.run)", nproc)
    saved, sys.stdout = sys.stdout, sys.stderr  # torchrun's own messages must not reach the event stream
    try:
        torchrun.run(args)
        return 0
    except SignalException as exc:  # forwarded to the processes, which stopped and saved
        log.info("launcher: %s forwarded to the processes; they have exited", exc.sigval.name)
        return 0
    except ChildFailedError as exc:
        failures = exc.failures
        first_rank = min(failures)
        first = failures[first_rank]
        rank0 = failures.get(0)
        if rank0 is None or rank0.exitcode not in (1, 2):  # rank 0 wrote no `error` event itself
            sys.stdout = saved
            write_error(f"training process {first_rank} of {nproc} failed (exit status {first.exitcode}); "
                        f"see its messages on stderr")
        code = rank0.exitcode if rank0 is not None else first.exitcode
        return code if code in (1, 2) else 1
    finally:
        sys.stdout = saved

