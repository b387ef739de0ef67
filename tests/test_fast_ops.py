"""The step's cheaper pieces compute what the plain ones do: CPU dropout and attention with
dropout, the fused softmax cross-entropy, the two-level inverse CDF (on real tokens)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from transformers import ElectraConfig, ElectraForPreTraining

from zhnlp.dropout import ATTENTION, attention, cheap_dropout, use_cheap_dropout
from zhnlp.pretraining.model import SoftmaxCrossEntropy
from zhnlp.pretraining.sampling import BLOCK, inverse_cdf
from zhnlp.vocab import load_tokenizer


@pytest.fixture(scope="module")
def encoded(tokdir, eprstmt_sentences):
    tok = load_tokenizer(tokdir)
    rows = [e.ids[:48] for e in tok.encode_batch(eprstmt_sentences[:16])]
    ids = torch.zeros(len(rows), 48, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
    return ids, (ids != 0).long()


def test_cheap_dropout_drops_its_share_keeps_the_mean_and_repeats_with_a_seed():
    x = torch.rand(1000, 1000) + 0.5
    torch.manual_seed(3)
    y = cheap_dropout(x, 0.1)
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - 0.1) < 0.002
    share = round(0.1 * 32768) / 32768
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / (1 - share))
    assert abs(y.mean().item() / x.mean().item() - 1) < 0.003
    torch.manual_seed(3)
    assert torch.equal(cheap_dropout(x, 0.1), y)
    assert torch.equal(cheap_dropout(x, 0.1, training=False), x)
    # the positions dropped are not the same from one call to the next
    assert not torch.equal(cheap_dropout(x, 0.1) == 0, y == 0)


def test_cheap_attention_equals_sdpa_and_a_model_changes_only_its_dropout(encoded, tmp_path):
    ids, att = encoded
    config = ElectraConfig(vocab_size=21128, embedding_size=32, hidden_size=64,
                           num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
    torch.manual_seed(0)
    model = ElectraForPreTraining(config).eval()
    before = model(input_ids=ids, attention_mask=att).logits
    use_cheap_dropout(model)
    assert model.config._attn_implementation == ATTENTION
    assert torch.equal(model(input_ids=ids, attention_mask=att).logits, before)  # eval
    layer = model.electra.encoder.layer[0].attention.self
    q, k, v = (torch.randn(16, 2, 48, 32) for _ in range(3))
    mask = (att[:, None, None, :] > 0).expand(-1, 1, 48, -1)
    # the hand-written path (a dropout too small to drop anything) is SDPA's arithmetic
    mine, _ = attention(layer, q, k, v, mask, scaling=0.2, dropout=1e-9)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.2)
    assert torch.allclose(mine, theirs.transpose(1, 2), atol=1e-5)
    model.train()
    out = model(input_ids=ids, attention_mask=att).logits
    assert not torch.allclose(out, before)  # dropout acts in training
    out[att > 0].sum().backward()
    assert model.electra.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    model.save_pretrained(tmp_path)  # the export knows nothing of the CPU attention
    saved = json.loads((tmp_path / "config.json").read_text())
    assert not any("attn" in key for key in saved)
    reloaded = ElectraForPreTraining.from_pretrained(tmp_path).eval()
    assert reloaded.config._attn_implementation == "sdpa"
    assert torch.allclose(reloaded(input_ids=ids, attention_mask=att).logits,
                          model.eval()(input_ids=ids, attention_mask=att).logits, atol=1e-5)


def test_fused_cross_entropy_equals_torch_in_value_gradient_argmax_and_weights(encoded):
    ids, _ = encoded
    torch.manual_seed(0)
    logits = (torch.randn(200, 3000, dtype=torch.float64) * 4).requires_grad_()
    targets = ids.flatten()[ids.flatten() > 0][:200] % 3000
    loss, weights, best = SoftmaxCrossEntropy.apply(logits, targets)
    want = F.cross_entropy(logits, targets, reduction="sum")
    assert torch.allclose(loss, want)
    (g_mine,) = torch.autograd.grad(loss * 1.7, logits)
    (g_want,) = torch.autograd.grad(want * 1.7, logits)
    assert torch.allclose(g_mine, g_want)
    assert torch.equal(best, logits.argmax(-1))
    assert torch.allclose(weights, (logits - logits.max(-1, keepdim=True).values).exp())


@pytest.mark.parametrize("width", [21128, 3 * BLOCK, 5 * BLOCK + 17, 40])
def test_two_level_inverse_cdf_picks_what_one_cumulative_sum_picks(width):
    torch.manual_seed(width)
    logits = torch.randn(3000, width) * 3
    logits[:, width // 2] = -1e4  # a zero-probability column is never drawn
    weights = (logits - logits.max(-1, keepdim=True).values).exp()
    u = torch.rand(3000)
    got = inverse_cdf(weights, u)
    cum = weights.double().cumsum(-1)  # the reference in float64: one long fp32 sum drifts
    want = torch.searchsorted(cum, u.double()[:, None] * cum[:, -1:]).squeeze(-1)
    assert (got == want).float().mean() > 0.999  # rounding may move a boundary draw
    assert (got < width).all() and not (got == width // 2).any()
