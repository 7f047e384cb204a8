import errno
import os
import zipfile

import pytest
import torch

from gcam_desktop.models import (
    CheckpointError, build_model, guess_arch, load_checkpoint, load_training_state, make_meta,
    save_checkpoint,
)


class NotData:
    """An arbitrary object: pickling it puts code references into the file."""

    def __reduce__(self):
        return (print, ("this would run on load",))


@pytest.fixture(scope="module")
def s_se():
    return build_model("s_se_resnet50", 3).eval()


def _meta(arch="small_cnn", n=3):
    return make_meta(arch, [f"c{i}" for i in range(n)], input_size=64, recipe={"lr": 1e-3},
                     epoch=5, metrics={"val_acc": 0.9})


def test_round_trip_keeps_weights_and_meta(tmp_path):
    model = build_model("small_cnn", 3)
    extra = {"optimizer": {"state": {}, "param_groups": [{"lr": 0.001}]}, "rng": torch.get_rng_state()}
    path = save_checkpoint(tmp_path / "m.pt", model, _meta(), extra=extra)
    loaded, meta = load_checkpoint(path)
    assert meta["arch"] == "small_cnn" and meta["class_names"] == ["c0", "c1", "c2"]
    assert meta["input_size"] == 64 and meta["epoch"] == 5 and meta["metrics"]["val_acc"] == 0.9
    assert len(meta["mean"]) == 3 and len(meta["std"]) == 3 and meta["recipe"]["lr"] == 1e-3
    assert not loaded.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    state = load_training_state(path)
    assert torch.equal(state["rng"], extra["rng"]) and state["optimizer"]["param_groups"][0]["lr"] == 0.001
    assert os.listdir(tmp_path) == ["m.pt"], "no temporary file may be left behind"


@pytest.mark.slow
def test_s_se_round_trip(tmp_path, s_se):
    path = save_checkpoint(tmp_path / "s.pt", s_se, _meta("s_se_resnet50"))
    loaded, meta = load_checkpoint(path, map_location="cpu")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), s_se(x))
    assert meta["arch"] == "s_se_resnet50"


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", build_model("small_cnn", 3), _meta())
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match=f"cannot write {path}: no space left on device"):
        save_checkpoint(path, build_model("small_cnn", 3), _meta())
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pt"]


def test_plain_torchvision_state_dict_loads(tmp_path):
    import torchvision

    path = tmp_path / "tv.pth"
    torch.save(torchvision.models.resnet50(num_classes=5).state_dict(), path)
    model, meta = load_checkpoint(path)
    assert meta["arch"] == "resnet50" and meta["num_classes"] == 5
    assert meta["class_names"] == [f"class {i}" for i in range(5)]
    assert model.fc.out_features == 5


def test_plain_timm_state_dict_is_recognised_as_se(tmp_path):
    import timm

    path = tmp_path / "timm.pth"
    torch.save(timm.create_model("seresnet50", num_classes=4).state_dict(), path)
    model, meta = load_checkpoint(path)
    assert meta["arch"] == "se_resnet50" and meta["num_classes"] == 4


def test_safetensors_state_dict_loads(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "m.safetensors"
    save_file(build_model("small_cnn", 6).state_dict(), str(path))
    _, meta = load_checkpoint(path)
    assert meta["arch"] == "small_cnn" and meta["num_classes"] == 6


def test_guess_arch_tells_the_variants_apart(s_se):
    assert guess_arch(s_se.state_dict()) == "s_se_resnet50"
    assert guess_arch(build_model("se_resnet50", 2).state_dict()) == "se_resnet50"
    assert guess_arch(build_model("resnet50", 2).state_dict()) == "resnet50"


def _expect(path, *fragments, **kw):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, **kw)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.pt", "no such file")


def test_folder_instead_of_file(tmp_path):
    _expect(tmp_path, "folder")


def test_empty_file(tmp_path):
    (tmp_path / "e.pt").write_bytes(b"")
    _expect(tmp_path / "e.pt", "empty file")


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.pt").write_text("hello, I am a text file\n")
    _expect(tmp_path / "x.pt", "not a PyTorch checkpoint")


def test_a_pickled_list_is_not_a_checkpoint(tmp_path):
    torch.save([1, 2, 3], tmp_path / "l.pt")
    _expect(tmp_path / "l.pt", "not a checkpoint")


def test_truncated_file(tmp_path):
    path = save_checkpoint(tmp_path / "t.pt", build_model("small_cnn", 3), _meta())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert not zipfile.is_zipfile(path)
    _expect(path, "truncated")


def test_file_carrying_code_is_refused_without_running_it(tmp_path, capsys):
    torch.save({"weights": torch.zeros(2), "payload": NotData()}, tmp_path / "evil.pt")
    _expect(tmp_path / "evil.pt", "asks to run Python code", "refused without running it")
    assert "would run" not in capsys.readouterr().out


def test_other_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", build_model("small_cnn", 3), _meta())
    _expect(path, "is a small_cnn checkpoint, not se_resnet50", expect_arch="se_resnet50")


def test_other_class_count(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", build_model("small_cnn", 3), _meta())
    _expect(path, "has 3 classes, but 10 are expected", expect_num_classes=10)


def test_unsupported_resnet_says_what_it_looks_like(tmp_path):
    import torchvision

    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pt")
    _expect(tmp_path / "r18.pt", "[2, 2, 2, 2] basic-block", "resnet50")


def test_missing_and_unexpected_keys_are_counted(tmp_path):
    model = build_model("small_cnn", 3)
    sd = model.state_dict()
    del sd["fc2.bias"]
    sd["extra.weight"] = torch.zeros(1)
    torch.save({"format": "gcam-desktop/checkpoint", "version": 1, "meta": _meta(), "state_dict": sd,
                "extra": {}}, tmp_path / "k.pt")
    message = _expect(tmp_path / "k.pt", "1 missing keys", "fc2.bias", "1 unexpected keys", "extra.weight")
    assert "does not fit small_cnn" in message


def test_wrong_shapes_are_reported(tmp_path):
    sd = build_model("small_cnn", 3).state_dict()
    sd["fc1.weight"] = torch.zeros(10, 10)
    torch.save({"format": "gcam-desktop/checkpoint", "version": 1, "meta": _meta(), "state_dict": sd,
                "extra": {}}, tmp_path / "s.pt")
    _expect(tmp_path / "s.pt", "wrong shape", "fc1.weight")


def test_unknown_arch_in_meta(tmp_path):
    sd = build_model("small_cnn", 3).state_dict()
    meta = _meta()
    meta["arch"] = "vit_b16"
    torch.save({"format": "gcam-desktop/checkpoint", "version": 1, "meta": meta, "state_dict": sd,
                "extra": {}}, tmp_path / "v.pt")
    _expect(tmp_path / "v.pt", "vit_b16", "supported")


@pytest.mark.parametrize("name, fragments", [
    ("empty.pt", ["empty file"]),
    ("page.pt", ["not a PyTorch checkpoint at all", "web page"]),
    ("random.pt", ["not a PyTorch checkpoint at all"]),
    ("text.pt", ["not a PyTorch checkpoint at all", "text file"]),
    ("code.pt", ["asks to run Python code", "refused without running it"]),
    ("loop.png", ["symbolic link loop"]),
    ("dangling.png", ["broken symbolic link"]),
])
def test_bad_files_are_told_apart(bad_files, name, fragments, capsys):
    message = _expect(bad_files[name], *fragments)
    if name != "code.pt":  # only a pickle that names code is called one
        assert "Python code" not in message
    assert "would run" not in capsys.readouterr().out


SAVE_UNDER_A_SIZE_LIMIT = """
import resource, signal, sys
from gcam_desktop.models import build_model, make_meta, save_checkpoint
from gcam_desktop.files import WriteError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit: EFBIG, as on a full disk (ENOSPC)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
try:
    save_checkpoint(sys.argv[1], build_model("small_cnn", 3), make_meta("small_cnn", ["a", "b", "c"]))
except WriteError as exc:
    print(exc)
"""


@pytest.mark.slow
def test_a_write_that_fails_midway_says_where_and_why_in_one_line(tmp_path):
    """torch.save reports a failed disk write as RuntimeError("[enforce fail at inline_container.cc
    ...]"); the program says which file and why, and the previous file stays whole."""
    import subprocess
    import sys

    path = tmp_path / "last.pt"
    path.write_bytes(b"previous")
    done = subprocess.run([sys.executable, "-c", SAVE_UNDER_A_SIZE_LIMIT, str(path)],
                          capture_output=True, text=True, timeout=120)
    lines = done.stdout.strip().splitlines()
    assert lines == [f"cannot write {path}: file too large (a file size limit was reached)"], done.stdout + done.stderr
    assert "enforce fail" not in done.stdout and "Traceback" not in done.stderr
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_loading_skips_the_random_initialisation_but_gives_the_same_model(tmp_path, s_se):
    """load_checkpoint builds on the meta device and assigns the file's tensors: no tensor may
    be left on meta, and the outputs equal a model built normally and loaded."""
    path = save_checkpoint(tmp_path / "s.pt", s_se, _meta("s_se_resnet50"))
    loaded, _ = load_checkpoint(path)
    assert not any(t.is_meta for t in (*loaded.parameters(), *loaded.buffers()))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), s_se(x))
