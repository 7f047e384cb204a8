"""gcam-explain in two processes (gloo, through torch.distributed.run) writes what one writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gcam_desktop import run_folder
from gcam_desktop.cli import explain as cli
from gcam_desktop.models import build_model, make_meta, save_checkpoint

pytestmark = pytest.mark.slow  # a torchrun launch (make test-fast leaves it out)

ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_write_the_same_files_and_csv_as_one(tmp_path, capsys):
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny_cnn.pt"
    save_checkpoint(ckpt, build_model("small_cnn", 3), make_meta("small_cnn", ["a", "b", "c"], input_size=32))
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(7):  # 7 images in batches of 2: 4 batches, dealt to 2 processes
        folder = photos / "sub" if i % 3 == 0 else photos
        Image.fromarray(rng.integers(0, 255, (30 + 3 * i, 40, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    (photos / "broken.png").write_bytes(b"not an image")
    args = ["--weights", str(ckpt), "--top-k", "2", "--batch-size", "2", "--no-progress", str(photos)]

    assert cli.main([*args, "--out", str(tmp_path / "one")]) == 1  # 1: the broken image
    capsys.readouterr()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "gcam_desktop.cli.explain", "--nproc-per-node", "2", *args,
                        "--out", str(tmp_path / "two")], capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=600)
    assert r.returncode == 1, r.stderr
    assert "8 image(s) x 1 model(s)" in r.stderr and "by 2 processes" in r.stderr
    assert r.stderr.count("broken.png: ") == 2  # reported where it happened, then once in the summary

    def outputs(folder):  # the run lock and its owner note (run_folder.py) differ by process
        return {p.relative_to(folder): p for p in folder.rglob("*")
                if p.is_file() and p.name not in (run_folder.LOCK_NAME, run_folder.OWNER_NAME)}

    one, two = outputs(tmp_path / "one"), outputs(tmp_path / "two")
    assert one.keys() == two.keys() and len(one) == 7 * 2 * 2 + 1
    for rel in one:
        assert one[rel].read_bytes() == two[rel].read_bytes(), rel

