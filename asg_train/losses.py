"""The four ASG objectives: IRA (global InfoNCE), ARSA (region-sentence), IRL (tag BCE), ERL (tag-similarity KL)."""
from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the incoming gradients over ranks and returns this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.n = x.shape[0]
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad)
        r = dist.get_rank()
        return grad[r * ctx.n:(r + 1) * ctx.n]


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather(x: torch.Tensor, with_grad: bool = True) -> tuple[torch.Tensor, int]:
    """Concatenate `x` from every rank (equal sizes); returns (all, offset of this rank's rows)."""
    if not _distributed():
        return x, 0
    if with_grad:
        return _GatherWithGrad.apply(x), dist.get_rank() * x.shape[0]
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, 0), dist.get_rank() * x.shape[0]


def ira_loss(img: torch.Tensor, txt: torch.Tensor, tau: float) -> torch.Tensor:
    """Symmetric InfoNCE between L2-normalised global image and report embeddings [B, D]: the sum of the
    image->report and report->image cross-entropies (as the official code).

    Under DDP the other ranks' embeddings are gathered with gradient and serve as extra negatives.
    """
    img_all, off = gather(img)
    txt_all, _ = gather(txt)
    target = torch.arange(img.shape[0], device=img.device) + off
    i2t = img.float() @ txt_all.float().t() / tau
    t2i = txt.float() @ img_all.float().t() / tau
    return F.cross_entropy(i2t, target) + F.cross_entropy(t2i, target)


def arsa_loss(reg_img: torch.Tensor, reg_txt: torch.Tensor, valid: torch.Tensor, same_text: torch.Tensor,
              tau: float) -> torch.Tensor:
    """Region-sentence alignment inside each image: the sum of the region->sentence and sentence->region
    cross-entropies over that image's valid regions (as the official code).

    reg_img, reg_txt: [B, R, D] L2-normalised region and region-sentence embeddings.
    valid: [B, R] regions with a box and at least one sentence; other slots are masked out of rows and columns.
    same_text: [B, R, R] True where two regions are described by exactly the same sentences. Such regions get the
      same sentence embedding, so a one-hot target would ask for the impossible; instead the target of region i
      is uniform over the valid regions sharing its sentences (a soft target; the loss floor becomes log k).
    The mean is over all valid rows of the batch; a batch with no valid region returns 0 (not NaN), still
    connected to the graph.
    """
    logits = torch.einsum("brd,bsd->brs", reg_img.float(), reg_txt.float()) / tau  # [B, R, R]
    pair = valid[:, :, None] & valid[:, None, :]
    target = (same_text & pair).float()
    target = target / target.sum(-1, keepdim=True).clamp_min(1.0)
    neg = torch.finfo(logits.dtype).min
    i2t = F.log_softmax(logits.masked_fill(~pair, neg), dim=-1)
    t2i = F.log_softmax(logits.transpose(1, 2).masked_fill(~pair, neg), dim=-1)
    # masked entries have target 0; multiply after zeroing to avoid 0 * -inf
    row = -(target * i2t.masked_fill(~pair, 0.0)).sum(-1) - (target * t2i.masked_fill(~pair, 0.0)).sum(-1)
    n = valid.sum()
    return (row * valid).sum() / n.clamp_min(1)


def tag_targets(tags: torch.Tensor, uncertain_as: Literal["0", "1", "ignore"]) -> tuple[torch.Tensor, torch.Tensor]:
    """Map raw tag values (1 present, 0 absent, -1 uncertain, -2 not mentioned) to (targets, weight mask)."""
    target = (tags == 1).float()
    weight = torch.ones_like(target)
    unc = tags == -1
    if uncertain_as == "1":
        target = target + unc.float()
    elif uncertain_as == "ignore":
        weight = weight * (~unc).float()
    return target, weight


def irl_loss(logits: torch.Tensor, tags: torch.Tensor, uncertain_as: Literal["0", "1", "ignore"] = "0") -> torch.Tensor:
    """Binary cross-entropy over the ASG tags [B, T]; uncertain mentions follow `uncertain_as`."""
    target, weight = tag_targets(tags, uncertain_as)
    per = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    return (per * weight).sum() / weight.sum().clamp_min(1.0)


def erl_target(tag_vec: torch.Tensor, tag_vec_all: torch.Tensor, offset: int, alpha: float) -> torch.Tensor:
    """Rows of alpha * I + (1 - alpha) * cos(tag vectors) + 1e-6, L1-normalised (the official target; the 1e-6 keeps
    KL(p || target) finite); all-zero tag vectors have cosine 0."""
    a = F.normalize(tag_vec.float(), dim=-1)
    b = F.normalize(tag_vec_all.float(), dim=-1)
    eye = torch.zeros(tag_vec.shape[0], tag_vec_all.shape[0], device=tag_vec.device)
    eye[torch.arange(tag_vec.shape[0]), torch.arange(tag_vec.shape[0]) + offset] = 1.0
    t = alpha * eye + (1 - alpha) * (a @ b.t()).clamp_min(0.0) + 1e-6
    return t / t.sum(-1, keepdim=True)


def erl_loss(img: torch.Tensor, txt: torch.Tensor, tag_vec: torch.Tensor, tau: float, alpha: float = 0.8) -> torch.Tensor:
    """Tag-similarity soft alignment, as the official code: for the image->report and the report->image softmax p,
    the mean of KL(target || p) and KL(p || target); the two directions are averaged.

    tag_vec: [B, T] 0/1 tag targets; the target row of sample i puts alpha on its own pair and spreads 1-alpha by the
    cosine similarity of tag vectors (then L1-normalised), so reports with the same findings are not pure negatives.
    """
    img_all, off = gather(img)
    txt_all, _ = gather(txt)
    tag_all, _ = gather(tag_vec.float(), with_grad=False)
    target = erl_target(tag_vec, tag_all, off, alpha)
    i2t = F.log_softmax(img.float() @ txt_all.float().t() / tau, dim=-1)
    t2i = F.log_softmax(txt.float() @ img_all.float().t() / tau, dim=-1)
    log_t = torch.log(target)

    def both_ways(logp: torch.Tensor) -> torch.Tensor:
        forward = (target * (log_t - logp)).sum(-1).mean()  # KL(target || p)
        backward = (logp.exp() * (logp - log_t)).sum(-1).mean()  # KL(p || target)
        return 0.5 * (forward + backward)

    return 0.5 * (both_ways(i2t) + both_ways(t2i))
