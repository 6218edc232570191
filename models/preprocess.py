"""The only place sensor frames become tensors and tensors become 8-bit RGB (§4.2: inputs in [0,1])."""
from __future__ import annotations

import numpy as np
import torch


def nir_to_tensor(nir_frames: np.ndarray, nir_bits: int) -> torch.Tensor:
    """(N,H,W) or (H,W) uint8/uint16 NIR at `nir_bits` -> float32 (N,1,H,W) in [0,1]."""
    frames = np.asarray(nir_frames)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise ValueError(f"NIR frames must be (N,H,W), got shape {frames.shape}")
    scale = float((1 << nir_bits) - 1)
    tensor = torch.from_numpy(frames.astype(np.float32, copy=False)) / scale
    return tensor.clamp_(0.0, 1.0).unsqueeze(1)


def rgb_to_tensor(rgb_frames: np.ndarray) -> torch.Tensor:
    """(N,H,W,3) or (H,W,3) uint8 RGB -> float32 (N,3,H,W) in [0,1]."""
    frames = np.asarray(rgb_frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"RGB frames must be (N,H,W,3), got shape {frames.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    return tensor.float() / 255.0


def tensor_to_rgb(rgb: torch.Tensor) -> np.ndarray:
    """float (N,3,H,W) in [0,1] -> uint8 (N,H,W,3), rounded to nearest."""
    rgb = rgb.detach().float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return rgb.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def nir_to_gray8(nir_frames: np.ndarray, nir_bits: int) -> np.ndarray:
    """NIR at any bit depth -> uint8 for display (sample grids, side-by-side videos)."""
    frames = np.asarray(nir_frames)
    if nir_bits == 8:
        return frames.astype(np.uint8, copy=False)
    scale = 255.0 / float((1 << nir_bits) - 1)
    return np.clip(np.round(frames.astype(np.float32) * scale), 0, 255).astype(np.uint8)
