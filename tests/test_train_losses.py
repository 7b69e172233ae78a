"""ASG losses against values worked out by hand, and box pooling that reads each region from its own image."""
import math
import random

import numpy as np
import pytest
import torch

from asg_train.cache import Cache
from asg_train.dataset import Collator, PretrainDataset
from asg_train.encoders import train_wordpiece
from asg_train.tokens import build_table
from asg_train.losses import arsa_loss, erl_loss, ira_loss, irl_loss
from asg_train.pooling import roi_pool


def sp(x: float) -> float:
    """log(1 + e^x), the two-way cross-entropy in closed form."""
    return math.log1p(math.exp(x))


def test_ira_by_hand():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # image->text logits [[1, .6], [0, .8]]; text->image logits [[1, 0], [.6, .8]] (tau 1)
    i2t = (sp(0.6 - 1.0) + sp(0.0 - 0.8)) / 2
    t2i = (sp(0.0 - 1.0) + sp(0.6 - 0.8)) / 2
    assert ira_loss(img, txt, tau=1.0).item() == pytest.approx(i2t + t2i, abs=1e-6)  # official: the sum
    # tau scales the logits
    i2t = (sp((0.6 - 1.0) / 0.5) + sp(-0.8 / 0.5)) / 2
    t2i = (sp(-1.0 / 0.5) + sp((0.6 - 0.8) / 0.5)) / 2
    assert ira_loss(img, txt, tau=0.5).item() == pytest.approx(i2t + t2i, abs=1e-6)


def test_arsa_by_hand_with_a_masked_slot():
    reg_img = torch.tensor([[[1.0, 0.0], [0.6, 0.8], [1.0, 0.0]]])
    reg_txt = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    valid = torch.tensor([[True, True, False]])  # region 2 has no sentence (or no box): out of rows and columns
    same = torch.eye(3, dtype=torch.bool)[None]
    # valid logits [[1, 0], [.6, .8]]
    rows = sp(0 - 1) + sp(0.6 - 0.8) + sp(0.6 - 1) + sp(0 - 0.8)
    assert arsa_loss(reg_img, reg_txt, valid, same, tau=1.0).item() == pytest.approx(rows / 2, abs=1e-6)


def test_arsa_shared_sentences_use_a_soft_target():
    # regions 0 and 1 are described by the same sentences -> identical sentence features, target 1/2 each
    reg_img = torch.nn.functional.normalize(torch.randn(1, 2, 4), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(4), dim=0)
    reg_txt = torch.stack([t, t])[None]
    valid = torch.ones(1, 2, dtype=torch.bool)
    same = torch.ones(1, 2, 2, dtype=torch.bool)
    # i2t rows: the two columns are equal -> each CE against (1/2, 1/2) is log 2. t2i rows: texts equal, so both
    # rows are the same distribution p over the two images: -(log p0 + log p1)/2 each.
    logits = (reg_img[0] @ t) / 0.07
    p = torch.softmax(logits, 0)
    expected = (2 * math.log(2) + 2 * (-(p.log().sum() / 2).item())) / 2
    assert arsa_loss(reg_img, reg_txt, valid, same, tau=0.07).item() == pytest.approx(expected, rel=1e-5)


def test_arsa_empty_batch_is_zero_not_nan():
    reg_img = torch.randn(3, 29, 8, requires_grad=True)
    reg_txt = torch.randn(3, 29, 8, requires_grad=True)
    loss = arsa_loss(reg_img, reg_txt, torch.zeros(3, 29, dtype=torch.bool), torch.eye(29, dtype=torch.bool).expand(3, 29, 29), 0.07)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(reg_img.grad).all() and reg_img.grad.abs().sum() == 0


def test_irl_uncertain_modes_by_hand():
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    tags = torch.tensor([[1, -1, -2]], dtype=torch.int8)  # present, uncertain, not mentioned (-> 0)
    zero = (math.log(2) + sp(2.0) + sp(-1.0)) / 3
    one = (math.log(2) + sp(-2.0) + sp(-1.0)) / 3
    ignore = (math.log(2) + sp(-1.0)) / 2
    assert irl_loss(logits, tags, "0").item() == pytest.approx(zero, abs=1e-6)
    assert irl_loss(logits, tags, "1").item() == pytest.approx(one, abs=1e-6)
    assert irl_loss(logits, tags, "ignore").item() == pytest.approx(ignore, abs=1e-6)


def test_erl_by_hand():
    img = torch.eye(2)
    txt = torch.eye(2)
    tags = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # cos = 1/sqrt(2)
    c = 1 / math.sqrt(2)
    target = np.array([1.0 + 1e-6, 0.2 * c + 1e-6])
    target /= target.sum()  # row 0; row 1 is its mirror, and both directions are the same by symmetry
    p = np.array([math.e, 1.0]) / (math.e + 1.0)  # softmax of logits [1, 0]
    forward, backward = float((target * np.log(target / p)).sum()), float((p * np.log(p / target)).sum())
    assert erl_loss(img, txt, tags, tau=1.0, alpha=0.8).item() == pytest.approx((forward + backward) / 2, abs=1e-6)
    # samples without any tag only match themselves: the target is 0.8 I + 1e-6, row-normalised; the reverse KL is
    # large but finite
    none = torch.zeros(2, 2)
    t = np.array([0.8 + 1e-6, 1e-6]) / (0.8 + 2e-6)
    expected = (float((t * np.log(t / p)).sum()) + float((p * np.log(p / t)).sum())) / 2
    assert erl_loss(img, txt, none, tau=1.0).item() == pytest.approx(expected, rel=1e-5)


def test_roi_pool_matches_roialign_on_a_ramp():
    feat = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4).contiguous()  # value = column index, stride 16
    boxes = torch.tensor([[[16.0, 0.0, 48.0, 64.0]]])  # feature x from 1.0 to 3.0; bins at 1.25..2.75
    # aligned RoIAlign samples at x - 0.5 = 0.75, 1.25, 1.75, 2.25 -> mean 1.5
    assert roi_pool(feat, boxes, 64).item() == pytest.approx(1.5, abs=1e-6)


def test_region_pooling_reads_its_own_image_after_shuffled_collate():
    texts = ["There is a small left pleural effusion.", "The lungs are clear.", "No pneumothorax.",
             "The heart is mildly enlarged."]
    spans = [np.array([[14, 0, len(t)]], dtype=np.int32) for t in texts]
    tok = train_wordpiece(texts, 200)
    rng = np.random.default_rng(0)
    items = []
    for k in range(4):
        x1, y1 = rng.uniform(0, 30, size=2)
        boxes = torch.full((29, 4), float("nan"))
        boxes[:5] = torch.tensor([x1, y1, x1 + 20, y1 + 25])
        boxes[7] = torch.tensor([0.0, 0.0, 64.0, 64.0])
        items.append({"image": torch.full((64, 64), 10 * (k + 1), dtype=torch.uint8), "boxes": boxes,
                      "box_valid": ~torch.isnan(boxes).any(-1), "report": k,
                      "tags": torch.zeros(40, dtype=torch.int8)})
    random.Random(3).shuffle(items)
    batch = Collator(build_table(texts, spans, 29, tok, 64))(items)
    pooled = roi_pool(batch["images"].float(), batch["boxes"], 64)  # [B, R, 1]
    own = (batch["report"].float() + 1) * 10
    valid = batch["box_valid"]
    assert torch.allclose(pooled[..., 0][valid], own[:, None].expand(-1, 29)[valid])
    # the sentence mask follows its report too: region 14 gets the tokens of that item's own text
    for b in range(4):
        n_tokens = len(tok(texts[int(batch["report"][b])], add_special_tokens=False)["input_ids"])
        assert int(batch["region_tokens"][b, 14].sum()) == n_tokens
        assert int(batch["region_tokens"][b].sum()) == n_tokens


def test_a_pooled_region_reads_its_own_pixels_after_a_random_crop():
    """Resize 256 -> crop 224 in miniature: boxes move with the crop, so a region still pools its own patch."""
    size, crop, n = 48, 32, 6
    rng = np.random.default_rng(1)
    images = np.zeros((n, size, size), np.uint8)
    boxes = np.full((n, 29, 4), np.nan, np.float32)
    for i in range(n):
        cells = rng.permutation(9)[:5]
        for r in range(5):  # five constant patches per image in separate 16 px cells, value 40 * (r + 1) + i
            cy, cx = divmod(int(cells[r]), 3)
            x1, y1 = 16 * cx + rng.integers(1, 4), 16 * cy + rng.integers(1, 4)
            w, h = rng.integers(8, 13, size=2)
            images[i, y1:y1 + h, x1:x1 + w] = 40 * (r + 1) + i
            boxes[i, r] = [x1, y1, x1 + w, y1 + h]
    cache = Cache(None, images, boxes, np.arange(n, dtype=np.int32), [f"r{i}" for i in range(n)], [""] * n,
                  [np.zeros((0, 3), np.int32)] * n, np.zeros((n, 40), np.int8), [f"g{k}" for k in range(29)],
                  [f"t{k}" for k in range(40)], "csv")
    ds = PretrainDataset(cache, crop=crop, random=True, seed=0)
    offsets, kept = set(), 0
    for epoch in range(4):
        for i in range(n):
            item = ds[(i, epoch)]
            img, bx, valid = item["image"], item["boxes"], item["box_valid"]
            assert img.shape == (crop, crop)
            offsets.add(img.numpy().tobytes())
            pooled = roi_pool(img[None, None].float(), bx[None], crop)[0, :, 0]
            for r in range(5):
                own = 40 * (r + 1) + i
                if not valid[r]:
                    continue
                w, h = (bx[r, 2] - bx[r, 0]).item(), (bx[r, 3] - bx[r, 1]).item()
                if min(w, h) >= 4:  # wide enough that no bilinear sample reaches past the box: exactly its patch
                    kept += 1
                    assert pooled[r].item() == pytest.approx(own, abs=1e-3), (epoch, i, r)
                else:  # a sliver left by the crop: its own patch blended with the background gap, nothing else
                    assert 0 < pooled[r].item() <= own + 1e-3
            assert not valid[5:].any()
    assert len(offsets) > 4 and kept > 3 * n  # crops differ and most regions survive them
    assert ds[(2, 1)]["image"].equal(ds[(2, 1)]["image"])  # the same (image, epoch) always gives the same crop
    centre = PretrainDataset(cache, crop=crop)[0]["image"].numpy()
    assert np.array_equal(centre, images[0, 8:40, 8:40])


def test_retrieval_accuracy_arithmetic():
    from asg_train.train import retrieval_accuracy

    # images 0,1 belong to report 0, image 2 to report 1, image 3 to report 2 but is closer to report 1
    img = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0.8, 0.6]])
    txt = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])  # one row per image, its report's text
    res = retrieval_accuracy(img, txt, torch.tensor([0, 0, 1, 2]))
    assert res["i2t_acc1"] == pytest.approx(0.75)  # image 3 retrieves report 1
    assert res["t2i_acc1"] == pytest.approx(1.0)  # report 2's best image is still image 3 (0.6 vs 0)
    assert res["i2t_acc5"] == 1.0 and res["t2i_acc5"] == 1.0
