"""The deep perceptual hash of the KIPS paper (Bai & Joe, section 4.2): a 64-bit fingerprint per image.

    picture -> squashed to 256 x 256, normalised with the checkpoint's mean / std
      -> the ResNet50's first stage (stem + layer1): 256 channels x 64 x 64
      -> pooled over channels (L2 norm per position): one 64 x 64 deep feature map
      -> made left-right symmetric (mean with its mirror): a flipped copy gets the same map
      -> 2-D DCT-II (SciPy, orthonormal): the coefficient matrix
      -> the 8 x 8 lowest frequencies (rows 0-7, even columns 0-14; odd columns are 0 by symmetry)
      -> bit k = coefficient k > median of the 64 (row-major order), packed into one uint64

F, the float feature vector, is the symmetric map (4096 floats). Why these choices, with the
measurements behind them: docs/adr/0016-deep-perceptual-hash.md. A stored fingerprint is only
comparable with one of the same FINGERPRINT_VERSION and the same model; both travel with every
stored fingerprint (HashModel.key). Qt-free.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

import numpy as np

# Raise whenever anything below changes what bits an image gets (input, features, DCT, bit rule).
FINGERPRINT_VERSION = 1
HASH_BITS = 64
HASH_INPUT = 256  # fixed, whatever the checkpoint was trained at: the map must be 64 x 64
_ROWS, _COLS = 8, 8


def hash_from_features(features: np.ndarray) -> np.ndarray:
    """N symmetric square maps (N x S x S, or N x S*S) -> N uint64 fingerprints (no model)."""
    from scipy.fft import dctn

    f = np.asarray(features, dtype=np.float64)
    if f.ndim == 2:
        side = int(round(f.shape[1] ** 0.5))
        if side * side != f.shape[1]:
            raise ValueError(f"features must be square maps, N x S x S or N x S*S; not {f.shape}")
        f = f.reshape(len(f), side, side)
    if f.ndim != 3 or f.shape[1] < _ROWS or f.shape[2] < 2 * _COLS:
        raise ValueError(f"features must be N x S x S maps with S >= {2 * _COLS}, not {f.shape}")
    coeffs = dctn(f, type=2, norm="ortho", axes=(1, 2))[:, :_ROWS, 0:2 * _COLS:2].reshape(len(f), HASH_BITS)
    bits = coeffs > np.median(coeffs, axis=1, keepdims=True)
    weights = np.left_shift(np.uint64(1), np.arange(HASH_BITS, dtype=np.uint64))
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def model_digest(model) -> str:
    """A short digest of a model's weights: fingerprints of two models never mix in a cache."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


_STEM = ("conv1", "bn1", "relu", "maxpool", "layer1")


def _stage_map(model, x):
    """Channel-pooled output of stem + layer1 (ours and torchvision's ResNet50 name them alike)."""
    for name in _STEM:
        x = getattr(model, name)(x)
    return x.norm(dim=1)


def _check_model(model) -> None:
    missing = [n for n in _STEM if not hasattr(model, n)]
    if missing:
        arch = getattr(model, "arch", type(model).__name__)
        raise ValueError(f"{arch} has no {', '.join(missing)}; the deep hash needs a ResNet50 variant")


def _to_rgb_images(images) -> list:
    from PIL import Image

    from gcam_desktop.imaging import load_image

    return [im.convert("RGB") if isinstance(im, Image.Image) else load_image(im) for im in images]


def deep_features(model, images: Sequence, meta: Mapping | None = None, batch_size: int = 32,
                  workers: int = 2) -> np.ndarray:
    """N x 4096 float32: F, the symmetric 64 x 64 deep map of PIL images or image paths.

    Pictures are squashed to HASH_INPUT (gcam_desktop.imaging.preprocess) and normalised with
    the checkpoint's mean / std. The model runs in eval mode on the device its weights are on.
    Raises ImageLoadError for unreadable paths.
    """
    import torch

    from gcam_desktop.explain.model_state import model_device
    from gcam_desktop.imaging.preprocess import IMAGENET_MEAN, IMAGENET_STD, preprocess

    meta = dict(meta or {})
    mean, std = meta.get("mean", IMAGENET_MEAN), meta.get("std", IMAGENET_STD)
    _check_model(model)
    device, dtype = model_device(model)  # a float64 model (as in some tests) takes float64 input
    was_training = model.training
    model.eval()
    out: list[np.ndarray] = []
    try:
        images = list(images)
        # Decoding and resizing release the GIL; the forward pass uses torch's own threads.
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for start in range(0, len(images), batch_size):
                chunk = _to_rgb_images(images[start:start + batch_size])
                x = torch.stack(list(pool.map(lambda im: preprocess(im, HASH_INPUT, mean, std), chunk)))
                with torch.inference_mode():
                    m = _stage_map(model, x.to(device, dtype))
                    m = (m + m.flip(-1)) / 2
                out.append(m.flatten(1).float().cpu().numpy())
    finally:
        model.train(was_training)
    side = HASH_INPUT // 4
    if not out:
        return np.zeros((0, side * side), np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def deep_hash(model, images: Sequence, meta: Mapping | None = None, batch_size: int = 32) -> np.ndarray:
    """N uint64 fingerprints of PIL images or image paths (see deep_features for the input)."""
    return hash_from_features(deep_features(model, images, meta, batch_size))


def to_hex(h) -> str:
    """A fingerprint as 16 hex digits (how it is stored in JSON)."""
    return f"{int(h):016x}"


def from_hex(text: str) -> np.uint64:
    return np.uint64(int(text, 16))
