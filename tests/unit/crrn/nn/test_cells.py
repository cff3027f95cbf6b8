"""ConvLSTM and CSTM cells against hand-computed equations."""

import math

import pytest
import torch

from crrn.nn.cells import CellState, ConvLSTMCell, CSTMCell, tanh


def sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


# 1x1 kernels, 1 input and 1 hidden channel: rows are gates (i, f, g, o), columns (w_x, w_h), then bias
W = {"i": (1.0, 0.5, 0.0), "f": (0.2, -0.3, 0.1), "g": (2.0, 1.0, -0.5), "o": (-1.0, 0.4, 0.3)}
V = {"i": 0.7, "f": -0.2, "o": 0.5}


def set_weights(cell: ConvLSTMCell) -> None:
    with torch.no_grad():
        for row, gate in enumerate("ifgo"):
            wx, wh, b = W[gate]
            cell.gates.weight[row, :, 0, 0] = torch.tensor([wx, wh])
            cell.gates.bias[row] = b
        cell.v_i.fill_(V["i"])
        cell.v_f.fill_(V["f"])
        cell.v_o.fill_(V["o"])


def lstm_by_hand(x: float, h: float, c: float, m: float) -> tuple[float, float]:
    """One ConvLSTM step on scalars; m is the memory the forget gate scales (c for ConvLSTM)."""

    def pre(gate: str) -> float:
        wx, wh, b = W[gate]
        return wx * x + wh * h + b

    i = sig(pre("i") + V["i"] * c)
    f = sig(pre("f") + V["f"] * c)
    g = math.tanh(pre("g"))
    c_new = f * m + i * g
    o = sig(pre("o") + V["o"] * c_new)
    return o * math.tanh(c_new), c_new


XS = torch.tensor([[0.8, -1.2], [0.0, 2.5]]).view(1, 1, 2, 2)
HS = torch.tensor([[-0.4, 0.3], [1.0, -2.0]]).view(1, 1, 2, 2)
CS = torch.tensor([[1.5, -0.7], [0.2, 3.0]]).view(1, 1, 2, 2)


def test_convlstm_step_matches_hand_computation():
    cell = ConvLSTMCell(1, 1, kernel_size=1)
    set_weights(cell)
    out = cell(XS, CellState(HS, CS))
    for r in range(2):
        for q in range(2):
            h, c = lstm_by_hand(
                XS[0, 0, r, q].item(), HS[0, 0, r, q].item(), CS[0, 0, r, q].item(), CS[0, 0, r, q].item()
            )
            assert out.h[0, 0, r, q].item() == pytest.approx(h, rel=1e-5)
            assert out.c[0, 0, r, q].item() == pytest.approx(c, rel=1e-5)


def test_cstm_step_uses_the_fused_memory():
    # W_1x1 = [0.6, -0.9]: memory = 0.6 C_{t-1} - 0.9 C_below
    cell = CSTMCell(1, 1, kernel_size=1)
    set_weights(cell)
    with torch.no_grad():
        cell.fuse.weight[0, :, 0, 0] = torch.tensor([0.6, -0.9])
    below = torch.tensor([[0.5, -1.0], [2.0, 0.1]]).view(1, 1, 2, 2)
    out = cell(XS, CellState(HS, CS), below)
    for r in range(2):
        for q in range(2):
            c = CS[0, 0, r, q].item()
            m = 0.6 * c - 0.9 * below[0, 0, r, q].item()
            h, c_new = lstm_by_hand(XS[0, 0, r, q].item(), HS[0, 0, r, q].item(), c, m)
            assert out.c[0, 0, r, q].item() == pytest.approx(c_new, rel=1e-5)
            assert out.h[0, 0, r, q].item() == pytest.approx(h, rel=1e-5)


def test_input_gate_sigmoid_is_applied_once():
    # forget gate shut, no peepholes, C_{t-1} = 0: C_t = sigmoid(a_i) * tanh(a_g) exactly
    cell = ConvLSTMCell(1, 1, kernel_size=1, peephole=False)
    with torch.no_grad():
        cell.gates.weight.zero_()
        cell.gates.bias.copy_(torch.tensor([3.0, -100.0, 0.5, 0.0]))
    zero = torch.zeros(1, 1, 1, 1)
    c = cell(zero, CellState(zero, zero)).c.item()
    assert c == pytest.approx(sig(3.0) * math.tanh(0.5), rel=1e-6)
    assert c != pytest.approx(sig(sig(3.0)) * math.tanh(0.5), rel=1e-3)


def test_cstm_with_identity_fusion_equals_convlstm():
    torch.manual_seed(0)
    lstm = ConvLSTMCell(3, 4, kernel_size=3)
    cstm = CSTMCell(3, 4, kernel_size=3)
    cstm.gates.load_state_dict(lstm.gates.state_dict())
    with torch.no_grad():
        for name in ("v_i", "v_f", "v_o"):
            value = torch.randn(4, 1, 1)
            getattr(lstm, name).copy_(value)
            getattr(cstm, name).copy_(value)
        cstm.fuse.weight.zero_()
        cstm.fuse.weight[:, :4, 0, 0] = torch.eye(4)  # W_1x1 = [I, 0]
        cstm.fuse.bias.zero_()
    x, h, c, below = (torch.randn(2, n, 5, 6) for n in (3, 4, 4, 4))
    a, b = lstm(x, CellState(h, c)), cstm(x, CellState(h, c), below)
    assert torch.allclose(a.h, b.h, atol=1e-6)
    assert torch.allclose(a.c, b.c, atol=1e-6)


def test_peepholes_are_per_channel_learnable_parameters_with_gradients():
    torch.manual_seed(0)
    cell = CSTMCell(2, 3, kernel_size=3)
    names = {n for n, _ in cell.named_parameters()}
    assert {"v_i", "v_f", "v_o"} <= names
    assert cell.v_i.shape == (3, 1, 1)
    x = torch.randn(2, 2, 4, 4)
    state = CellState(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4))
    out = cell(x, state, torch.randn(2, 3, 4, 4))
    (out.h.sum() + out.c.sum()).backward()
    for v in (cell.v_i, cell.v_f, cell.v_o):
        assert v.grad is not None
        assert v.grad.abs().sum() > 0


def test_no_peephole_option_has_no_peephole_parameters():
    cell = ConvLSTMCell(2, 3, kernel_size=3, peephole=False)
    assert not any(n.startswith("v_") for n, _ in cell.named_parameters())


def test_tanh_via_sigmoid_matches_tanh() -> None:
    # 2 sigmoid(2x) - 1 = tanh(x); hand values tanh(0) = 0, tanh(1) = 0.761594..., tanh(-3) = -0.995055...
    x = torch.tensor([0.0, 1.0, -3.0, 20.0, -20.0])
    expected = torch.tensor([0.0, 0.7615941559557649, -0.9950547536867305, 1.0, -1.0])
    assert torch.allclose(tanh(x), expected, atol=3e-7, rtol=0)
    grid = torch.linspace(-12, 12, 100_001)
    assert (tanh(grid) - torch.tanh(grid)).abs().max() < 3e-7
    v = torch.tensor([0.5], requires_grad=True)  # d/dx tanh = 1 - tanh^2, through the sigmoid form
    tanh(v).sum().backward()
    assert v.grad is not None
    assert abs(v.grad.item() - (1 - math.tanh(0.5) ** 2)) < 1e-6
