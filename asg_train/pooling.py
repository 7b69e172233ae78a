"""RoIAlign-equivalent box pooling over a patch-grid feature map, with torch ops only (no torchvision)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def roi_pool(features: torch.Tensor, boxes: torch.Tensor, image_size: float, samples: int = 4) -> torch.Tensor:
    """Average of bilinear samples on a `samples` x `samples` grid of bin centres inside each box.

    features: [B, C, h, w] feature map of images of side `image_size` (square, in pixels).
    boxes: [B, R, 4] x1, y1, x2, y2 in image pixels; region r of image b is pooled from features[b] only.
    Returns [B, R, C]. This equals RoIAlign(aligned=True, sampling_ratio=1) followed by a mean over the output bins.
    Rows with NaN boxes give finite garbage (zeros box); mask them with the caller's validity mask.
    """
    b, c, _, _ = features.shape
    r = boxes.shape[1]
    boxes = torch.nan_to_num(boxes.float(), nan=0.0)
    # bin centres in [0, 1] of each box
    t = (torch.arange(samples, device=features.device, dtype=torch.float32) + 0.5) / samples
    x1, y1, x2, y2 = boxes.unbind(-1)  # [B, R]
    xs = x1[..., None] + (x2 - x1)[..., None] * t  # [B, R, k]
    ys = y1[..., None] + (y2 - y1)[..., None] * t
    # pixel coordinate p -> normalised grid coordinate 2p/size - 1 (align_corners=False: pixel-edge convention)
    gx = xs / image_size * 2 - 1
    gy = ys / image_size * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, :, None, :], gy[:, :, :, None]), dim=-1)  # [B, R, k, k, 2]
    grid = grid.reshape(b, r * samples, samples, 2).to(features.dtype)
    sampled = F.grid_sample(features, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return sampled.reshape(b, c, r, samples * samples).mean(-1).transpose(1, 2)  # [B, R, C]
