"""Whole attention heads (sparsity/heads.py): a hand-scored block, and a BERT whose pruned
heads compute what silencing those heads' attention output in the dense model gives."""

from __future__ import annotations

import json

import torch
from torch import nn

from sparsecli.sparsity import heads
from sparsecli.sparsity.config import OneShot, Structure
from sparsecli.sparsity.engine import prune_model


def _block(values):
    """Four 4x4 projections (2 heads of width 2) holding `values` (q, k, v, o)."""
    names = ("a.attention.self.query", "a.attention.self.key", "a.attention.self.value", "a.attention.output.dense")
    modules = {}
    for name, value in zip(names, values):
        module = nn.Linear(4, 4)
        with torch.no_grad():
            module.weight.copy_(torch.tensor(value, dtype=torch.float32))
        modules[name] = module
    return modules


def test_the_head_with_the_smaller_summed_magnitude_goes():
    # head 0 = rows 0-1 of q, k, v and columns 0-1 of o: sum 4 * 4 * 1; head 1: 2 per entry, twice that
    rows = [[1.0] * 4] * 2 + [[-2.0] * 4] * 2
    cols = [[1.0, 1.0, 2.0, 2.0]] * 4
    modules = _block([rows, rows, rows, cols])
    (block,) = heads.blocks(modules)
    assert block.prefix == "a."
    masks = heads.head_masks(modules, block, 2, 0.5)
    assert masks["a.attention.self.query"][:, 0].tolist() == [False, False, True, True]
    assert masks["a.attention.output.dense"][0].tolist() == [False, False, True, True]
    assert heads.head_masks(modules, block, 2, 0.4)["a.attention.self.key"].all()  # floor(0.4 * 2) = 0


def test_pruned_heads_compute_what_silencing_them_gives():
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=30, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    torch.manual_seed(0)
    dense = BertModel(config).eval()
    pruned = BertModel(config).eval()
    pruned.load_state_dict(dense.state_dict())
    result = prune_model(pruned, OneShot(sparsity=0.5, structure=Structure.heads))
    assert len(result.masks) == 8 and result.sparsity == 0.5  # 2 layers x q, k, v, o; 2 of 4 heads each
    for layer in range(2):
        keep = result.masks[f"encoder.layer.{layer}.attention.self.query"][:, 0].reshape(4, 8)[:, 0]
        assert int(keep.sum()) == 2
        bias = pruned.encoder.layer[layer].attention.self.value.bias.reshape(4, 8)
        assert (bias[~keep] == 0).all()
        # the reference: the dense model with these heads' context vectors multiplied by 0
        # (transformers 5 dropped the head_mask argument that did this)
        silence = keep.float().repeat_interleave(8)
        dense.encoder.layer[layer].attention.self.register_forward_hook(
            lambda module, args, out, silence=silence: (out[0] * silence, *out[1:])
        )
    inputs = torch.tensor([[2, 5, 7, 9, 3]])
    with torch.no_grad():
        want = dense(inputs).last_hidden_state
        got = pruned(inputs).last_hidden_state
    assert torch.allclose(want, got, atol=1e-5)


def test_sparse_prune_removes_heads_of_a_checkpoint(sparse, tiny_bert):
    result = sparse("prune", f"checkpoint={tiny_bert}", "sparsity.structure=heads", "runtime.threads=1")
    assert result.exit_code == 0, result.stderr
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["target_layers"] == 8 and report["sparsity_of_targets"] == 0.5
