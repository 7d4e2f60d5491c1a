"""CSR export of pruned layers (sparsity/csr.py) and the CPU product (kernels/spmm.py): a
hand-written matrix with known arrays and products, equality with F.linear, the file format."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file
from torch import nn

from sparsecli.kernels import set_threads
from sparsecli.sparsity import csr as csrmod
from sparsecli.sparsity import layers, masks, structure
from sparsecli.sparsity.csr import CSR, CSRLinear

T, F_ = True, False
# [out 3, in 4]: an empty middle row, a negative weight, columns out of row order in neither row
W = [[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, -1.0, 0.0]]
W_INDPTR, W_INDICES, W_VALUES = [0, 2, 2, 4], [1, 3, 0, 2], [2.0, 1.0, 3.0, -1.0]
# x as the kernel takes it, [in 4, batch 2]; W x = [[2*2 + 4, 2*1 + 0.5], [0, 0], [3 - 5, -1 * -2]]
X = [[1.0, 0.0], [2.0, 1.0], [5.0, -2.0], [4.0, 0.5]]
WX = [[8.0, 2.5], [0.0, 0.0], [-2.0, 2.0]]


def _hand() -> CSR:
    return csrmod.to_csr(torch.tensor(W))


def _product(csr: CSR, x, bias=None) -> np.ndarray:
    """W x for x [in, batch], through CSRLinear (which takes x [batch, in])."""
    layer = CSRLinear(csr, None if bias is None else np.asarray(bias, np.float32))
    with torch.no_grad():
        return layer(torch.tensor(np.asarray(x, np.float32).T.copy())).T.numpy()


def test_to_csr_of_the_hand_matrix():
    got = _hand()
    assert got.indptr.tolist() == W_INDPTR and got.indptr.dtype == np.int64
    assert got.indices.tolist() == W_INDICES and got.indices.dtype == np.int32
    assert got.values.tolist() == W_VALUES and got.values.dtype == np.float32
    assert got.shape == (3, 4) and got.nnz == 4
    # a mask decides, not the values: kept zero (1, 0) is stored, pruned -1 (2, 2) is not
    keep = torch.tensor([[F_, T, F_, T], [T, F_, F_, F_], [T, F_, F_, F_]])
    masked = csrmod.to_csr(torch.tensor(W, dtype=torch.float64), keep)
    assert masked.indptr.tolist() == [0, 2, 3, 4]
    assert masked.indices.tolist() == [1, 3, 0, 0]
    assert masked.values.tolist() == [2.0, 1.0, 0.0, 3.0] and masked.values.dtype == np.float32
    with pytest.raises(ValueError, match="mask shape"):
        csrmod.to_csr(torch.tensor(W), keep.T)


def test_kernel_on_the_hand_matrix():
    hand = _hand()
    assert _product(hand, X).tolist() == WX
    assert _product(hand, X, bias=[0.5, -1.0, 0.0]).tolist() == [[8.5, 3.0], [-1.0, -1.0], [-2.0, 2.0]]
    assert _product(hand, [[1.0], [2.0], [5.0], [4.0]]).tolist() == [[8.0], [0.0], [-2.0]]  # batch 1
    assert _product(hand, np.zeros((4, 0))).shape == (3, 0)


def _pruned_linear(sparsity: float, bias: bool, conv1d: bool = False, seed: int = 0):
    """A random 64 x 96 layer magnitude-pruned in place; returns (module, keep [out, in])."""
    torch.manual_seed(seed)
    if conv1d:
        from transformers.pytorch_utils import Conv1D

        module = Conv1D(64, 96)  # nf = out, nx = in: weight stored [96, 64]
        nn.init.normal_(module.weight)
        nn.init.normal_(module.bias)
        if not bias:
            module.bias = None
    else:
        module = nn.Linear(96, 64, bias=bias)
    keep = structure.per_layer(layers.matrix(module).detach().abs(), sparsity)
    masks.apply({"layer": module}, {"layer": keep})
    return module, keep


def _assert_close(ours: torch.Tensor, reference: torch.Tensor):
    assert ours.shape == reference.shape and ours.dtype == reference.dtype
    scale = max(float(reference.abs().max()), 1e-30)
    assert float((ours - reference).abs().max()) <= 1e-5 * scale


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("bias", [True, False])
def test_csrlinear_equals_f_linear_with_the_pruned_weight(sparsity, bias):
    module, keep = _pruned_linear(sparsity, bias)
    sparse = CSRLinear.from_linear(module, keep)
    assert sparse.values.numel() == int(keep.sum()) == 64 * 96 - structure.pruned_count(sparsity, 64 * 96)
    assert sparse.dense().equal(module.weight.detach())
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for shape in ((1, 96), (7, 96), (2, 5, 96), (96,)):
            x = torch.randn(shape, generator=generator)
            ours, reference = sparse(x), F.linear(x, module.weight, module.bias)
            assert ours.is_contiguous()
            _assert_close(ours, reference)
            if sparsity == 1.0:  # nothing kept: exactly the bias, or zeros
                assert ours.equal(reference)


def test_csrlinear_from_a_gpt2_conv1d():
    module, keep = _pruned_linear(0.7, bias=True, conv1d=True)
    assert module.weight.shape == (96, 64)
    sparse = CSRLinear.from_linear(module, keep)
    assert (sparse.out_features, sparse.in_features) == (64, 96)
    x = torch.randn(3, 4, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        _assert_close(sparse(x), module(x))


def test_fallback_for_other_dtypes_and_autograd():
    module, keep = _pruned_linear(0.5, bias=True)
    sparse = CSRLinear.from_linear(module, keep)
    x = torch.randn(7, 96, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    reference = F.linear(x, module.weight.detach().double(), module.bias.detach().double())
    assert torch.allclose(sparse(x), reference, rtol=1e-12, atol=1e-12)
    x = x.float().requires_grad_()
    sparse(x).sum().backward()
    assert torch.allclose(x.grad, module.weight.detach().sum(0).expand(7, 96))


def test_the_product_is_deterministic_and_independent_of_batch_and_threads():
    module, keep = _pruned_linear(0.5, bias=True)
    sparse = CSRLinear.from_linear(module, keep)
    x = torch.randn(7, 96, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        first, second = sparse(x), sparse(x)
        assert first.numpy().tobytes() == second.numpy().tobytes()
        # each output element has one summation order: a row alone (the batch-1 path) or
        # within a batch, on one thread or several, gives the same bits
        for k in range(7):
            assert sparse(x[k : k + 1]).numpy().tobytes() == first[k : k + 1].numpy().tobytes()
        previous = set_threads(1)
        try:
            assert sparse(x).numpy().tobytes() == first.numpy().tobytes()
        finally:
            set_threads(previous)


def _model_layers():
    linear, linear_keep = _pruned_linear(0.5, bias=True, seed=5)
    plain, plain_keep = _pruned_linear(0.9, bias=False, seed=6)
    conv, conv_keep = _pruned_linear(0.8, bias=True, conv1d=True, seed=7)
    modules = {"encoder.0": linear, "encoder.1": plain, "head": conv}
    return modules, {"encoder.0": linear_keep, "encoder.1": plain_keep, "head": conv_keep}


def test_export_load_round_trip(tmp_path):
    modules, keeps = _model_layers()
    path = csrmod.export(modules, keeps, tmp_path / "layers.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["layers.safetensors"]  # no temporary left behind
    loaded = csrmod.load(path)
    assert list(loaded) == list(modules)  # model order
    for name, module in modules.items():
        expected = csrmod.to_csr(layers.matrix(module), keeps[name])
        got = loaded[name]
        assert got.shape == expected.shape
        for part in ("indptr", "indices", "values"):
            assert getattr(got, part).dtype == getattr(expected, part).dtype
            assert np.array_equal(getattr(got, part), getattr(expected, part))
    biases = {name: bias for name, (_, bias) in csrmod.read_layers(path).items()}
    assert biases["encoder.1"] is None
    assert np.array_equal(biases["head"], modules["head"].bias.detach().numpy())
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        header = json.loads(handle.metadata()["csr"])
    assert header == {
        "format": "csr",
        "version": 1,
        "layout": "[out, in]",
        "shapes": {"encoder.0": [64, 96], "encoder.1": [64, 96], "head": [64, 96]},
    }
    assert list(header["shapes"]) == ["encoder.0", "encoder.1", "head"]  # model order
    # the same layers give the same bytes
    again = csrmod.export(modules, keeps, tmp_path / "again.safetensors")
    assert again.read_bytes() == path.read_bytes()
    with pytest.raises(ValueError, match="nowhere"):
        csrmod.export(modules, {"nowhere": keeps["head"]}, tmp_path / "x.safetensors")


def test_export_without_masks_keeps_the_nonzeros(tmp_path):
    module = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(W))
    loaded = csrmod.load(csrmod.export({"w": module}, {}, tmp_path / "w.safetensors"))
    assert loaded["w"].indptr.tolist() == W_INDPTR
    assert loaded["w"].indices.tolist() == W_INDICES
    assert loaded["w"].values.tolist() == W_VALUES


def _hand_file(path, **changes):
    """The hand matrix as a CSR file, with tensors or metadata replaced (None removes)."""
    tensors = {
        "w.indptr": np.array(W_INDPTR, np.int64),
        "w.indices": np.array(W_INDICES, np.int32),
        "w.values": np.array(W_VALUES, np.float32),
    }
    header = {"format": "csr", "version": 1, "layout": "[out, in]", "shapes": {"w": [3, 4]}}
    raw = changes.pop("raw", None)
    for key, value in changes.items():
        target = tensors if key.startswith("w.") else header
        if value is None:
            del target[key]
        else:
            target[key] = value
    save_file(tensors, str(path), metadata={"csr": raw if raw is not None else json.dumps(header)})
    return path


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 2},
        {"version": "1"},
        {"format": "pt"},
        {"shapes": [3, 4]},
        {"raw": "{not json"},
        {"w.values": None},
        {"w.extra": np.zeros(1, np.float32)},
        {"w.indices": np.array([1, 4, 0, 2], np.int32)},  # column 4 of 4
        {"w.indices": np.array([3, 1, 0, 2], np.int32)},  # row 0 unsorted
        {"w.indptr": np.array([0, 2, 2, 5], np.int64)},  # ends past the 4 values
        {"w.indptr": np.array([0, 2, 4], np.int64)},  # one row short
        {"w.indices": np.array(W_INDICES, np.int64)},
        {"w.bias": np.zeros(4, np.float32)},
    ],
)
def test_a_malformed_file_is_a_one_line_value_error_naming_it(tmp_path, changes):
    assert csrmod.load(_hand_file(tmp_path / "ok.safetensors"))["w"].nnz == 4
    path = _hand_file(tmp_path / "bad.safetensors", **changes)
    with pytest.raises(ValueError) as caught:
        csrmod.load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_not_safetensors_at_all(tmp_path):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="garbage.safetensors") as caught:
        csrmod.load(path)
    assert "\n" not in str(caught.value)
    with pytest.raises(FileNotFoundError):
        csrmod.load(tmp_path / "missing.safetensors")


def _tiny(kind: str):
    if kind == "bert":
        from transformers import BertConfig, BertModel

        config = BertConfig(
            vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
        )
        return BertModel(config).eval()
    from transformers import GPT2Config, GPT2Model

    return GPT2Model(GPT2Config(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=2)).eval()


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_swap_in_matches_the_pruned_dense_model(tmp_path, kind):
    torch.manual_seed(8)
    model = _tiny(kind)
    found = layers.targets(model)
    keeps = {name: structure.per_layer(layers.matrix(m).detach().abs(), 0.7) for name, m in found.items()}
    masks.apply(found, keeps)
    path = csrmod.export(found, keeps, tmp_path / "layers.safetensors")
    ids = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        reference = model(input_ids=ids).last_hidden_state
        swapped = csrmod.swap_in(model, path)
        assert swapped == list(found)
        assert all(isinstance(model.get_submodule(name), CSRLinear) for name in found)
        _assert_close(model(input_ids=ids).last_hidden_state, reference)


def test_swap_in_refuses_a_model_that_does_not_fit(tmp_path):
    modules, keeps = _model_layers()
    path = csrmod.export(modules, keeps, tmp_path / "layers.safetensors")
    model = nn.Module()
    model.encoder = nn.Sequential(nn.Linear(96, 64), nn.Linear(96, 32, bias=False))
    model.head = nn.Linear(96, 64)
    with pytest.raises(ValueError, match=r"encoder\.1 is \[32, 96\]"):
        csrmod.swap_in(model, path)
    assert isinstance(model.encoder[0], nn.Linear)  # all or nothing
    model.encoder[1] = nn.ReLU()
    with pytest.raises(ValueError, match="ReLU"):
        csrmod.swap_in(model, path)
