"""The whole CRRN: shapes on any grid, attention shortcut, decoder inputs, masking, determinism."""

from dataclasses import replace

import pytest
import torch

from crrn.nn.config import CRRNConfig
from crrn.nn.crrn import CRRN

TINY = CRRNConfig(hidden_channels=6, num_layers=2, kernel_size=3, attention_kernel=3)


def model_for(cfg: CRRNConfig = TINY, seed: int = 0) -> CRRN:
    torch.manual_seed(seed)
    return CRRN(cfg).eval()


@pytest.mark.parametrize("size", [(13, 29), (1, 1), (7, 8), (32, 32)])
@pytest.mark.parametrize("s_layers", [0, 2, 3])
def test_output_shape_equals_input_shape_on_any_grid(size, s_layers):
    model = model_for(replace(TINY, s_layers=s_layers))
    x = torch.randn(2, 3, 2, *size)
    assert model(x).shape == x.shape


@pytest.mark.parametrize("name", ["crrn", "crrn_noattn", "crae", "crae_noattn"])
def test_every_variant_runs_and_is_deterministic_in_eval(name):
    model = model_for(CRRNConfig.variant(name, base=TINY))
    x = torch.randn(2, 4, 2, 9, 11)
    mask = torch.rand(9, 11) > 0.3
    assert torch.equal(model(x, mask), model(x, mask))


@pytest.mark.parametrize("base", [CRRNConfig.cpu(), CRRNConfig.paper()])
def test_cstm_and_convlstm_models_have_close_parameter_counts(base):
    cstm = CRRN(CRRNConfig.variant("crrn", base)).num_parameters()
    lstm = CRRN(CRRNConfig.variant("crae", base)).num_parameters()
    assert cstm > lstm
    assert (cstm - lstm) / lstm < 0.05


def test_non_pad_cells_of_the_input_do_not_change_the_output():
    model = model_for(replace(TINY, mask_channel=True))
    mask = torch.rand(10, 12, generator=torch.Generator().manual_seed(1)) > 0.4
    x = torch.randn(2, 4, 2, 10, 12)
    y = x.clone()
    y[..., ~mask] = 99.0
    assert torch.equal(model(x, mask), model(y, mask))


def test_mask_with_wrong_shape_names_the_field():
    with pytest.raises(ValueError, match="mask"):
        model_for()(torch.randn(1, 2, 2, 8, 8), torch.ones(8, 9, dtype=torch.bool))


def test_input_with_wrong_channels_names_the_field():
    with pytest.raises(ValueError, match="x: expected"):
        model_for()(torch.randn(1, 2, 3, 8, 8))


def capture(module: torch.nn.Module, store: list, pre: bool = False):
    if pre:
        return module.register_forward_pre_hook(lambda m, args: store.append(args))
    return module.register_forward_hook(lambda m, args, out: store.append((args, out)))


def test_decoder_subtracts_exactly_the_encoders_attention_map():
    model = model_for()
    T, L = 4, TINY.num_layers
    maps = {layer: [] for layer in range(L)}
    dec_out = {layer: [] for layer in range(L)}
    s_dec_in: list = []
    hooks = [capture(model.st.attention[layer], maps[layer]) for layer in range(L)]
    hooks += [capture(model.st.decoder[layer], dec_out[layer]) for layer in range(L)]
    hooks.append(capture(model.s_decoder, s_dec_in, pre=True))
    model(torch.randn(2, T, 2, 8, 12))
    for h in hooks:
        h.remove()
    a_top = [out for _, out in maps[L - 1]]  # A_t^L, t = 1..T
    d_hat_top = [out.h for _, out in dec_out[L - 1]]  # D̂_t^L, t = T..1
    for k, t in enumerate(reversed(range(T))):
        assert torch.equal(s_dec_in[k][0], d_hat_top[k] - a_top[t])
    # layer 1's corrected output D_t^1 = D̂_t^1 - A_t^1 is what layer 2 receives from below
    a_bottom = [out for _, out in maps[0]]
    for k, t in enumerate(reversed(range(T))):
        assert torch.equal(dec_out[1][k][0][0], dec_out[0][k][1].h - a_bottom[t])


def test_encoder_hands_hidden_plus_attention_to_the_next_step():
    model = model_for()
    calls: list = []
    maps: list = []
    hooks = [capture(model.st.encoder[0], calls), capture(model.st.attention[0], maps)]
    model(torch.randn(1, 3, 2, 8, 8))
    for h in hooks:
        h.remove()
    for t in range(2):
        (_, state_in, _), _ = calls[t + 1]
        e_t = calls[t][1].h
        assert torch.equal(state_in.h, e_t + maps[t][1])
        assert torch.equal(state_in.c, calls[t][1].c)


def test_decoder_input_is_zeros_at_the_last_step_and_the_next_ground_truth_with_full_teacher_forcing():
    model = model_for(replace(TINY, mask_channel=True))
    frames: list = []
    hook = capture(model.s_encoder, frames, pre=True)
    B, T = 2, 3
    x = torch.randn(B, T, 2, 8, 8)
    mask = torch.rand(8, 8, generator=torch.Generator().manual_seed(3)) > 0.5
    model(x, mask, teacher_forcing=1.0)
    hook.remove()
    m = mask.float().expand(B, 1, 8, 8)
    assert len(frames) == 1 + T  # one batched encoder call, then one per decoder step
    assert torch.equal(frames[1][0], torch.zeros(B, 3, 8, 8))  # step T: zero frame, zero mask channel
    for k, t in enumerate(reversed(range(T - 1)), start=2):  # step t gets frame t+1
        assert torch.equal(frames[k][0], torch.cat([x[:, t + 1] * m, m], dim=1))


def test_without_teacher_forcing_the_decoder_is_fed_its_own_reconstruction():
    model = model_for()
    frames: list = []
    hook = capture(model.s_encoder, frames, pre=True)
    x = torch.randn(1, 3, 2, 8, 8)
    out = model(x)
    hook.remove()
    assert torch.equal(frames[2][0], out[:, 2])  # the step producing X'_2 (index 1) is fed X'_3


def test_zigzag_feeds_the_top_cell_state_of_the_previous_step_to_layer_one():
    model = model_for()
    bottom, top = [], []
    hooks = [capture(model.st.encoder[0], bottom), capture(model.st.encoder[-1], top)]
    model(torch.randn(1, 3, 2, 8, 8))
    for h in hooks:
        h.remove()
    assert torch.equal(bottom[0][0][2], torch.zeros_like(top[0][1].c))  # t = 1: no previous step
    for t in (1, 2):
        assert torch.equal(bottom[t][0][2], top[t - 1][1].c)


def test_decoder_layer_one_gets_the_encoders_top_memory_then_its_own_previous_step():
    model = model_for()
    enc_top, dec_bottom, dec_top = [], [], []
    hooks = [
        capture(model.st.encoder[-1], enc_top),
        capture(model.st.decoder[0], dec_bottom),
        capture(model.st.decoder[-1], dec_top),
    ]
    T = 3
    model(torch.randn(1, T, 2, 8, 8))
    for h in hooks:
        h.remove()
    assert torch.equal(dec_bottom[0][0][2], enc_top[-1][1].c)  # decoder step T: the encoder's C_T^L
    for k in range(1, T):  # decoder step t < T: its own C_{t+1}^L
        assert torch.equal(dec_bottom[k][0][2], dec_top[k - 1][1].c)


@pytest.mark.parametrize("name", ["crrn", "crrn_noattn", "crae", "crae_noattn"])
def test_one_training_step_gives_every_parameter_and_every_fusion_half_a_gradient(name):
    from crrn.network_training import TrainConfig, step_loss

    cfg = replace(CRRNConfig.variant(name, base=TINY), mask_channel=True)
    model = model_for(cfg)
    model.train()
    clean = torch.randn(2, 4, 2, 8, 8, generator=torch.Generator().manual_seed(5))
    mask = torch.rand(8, 8, generator=torch.Generator().manual_seed(6)) > 0.3
    loss = step_loss(model, clean, mask, TrainConfig(), 0.5, torch.Generator().manual_seed(7))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []
    fusions = {n: p for n, p in model.named_parameters() if n.endswith("fuse.weight")}
    nc = cfg.hidden_channels
    if cfg.cell == "cstm":
        # both coders, every layer: the own-memory half W_1x1[:, :Nc] and the layer-below half W_1x1[:, Nc:]
        assert len(fusions) == 2 * cfg.num_layers
        for n, p in fusions.items():
            assert p.grad is not None
            assert p.grad[:, :nc].abs().sum() > 0, n
            assert p.grad[:, nc:].abs().sum() > 0, n  # dead in layer 1 when it was fed zeros
    else:
        assert fusions == {}
