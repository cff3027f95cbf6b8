"""CRRNConfig: presets, variants, JSON round trip, validation."""

import json

import pytest

from crrn.nn.config import VARIANTS, CRRNConfig


def test_paper_preset_matches_the_paper_setting():
    cfg = CRRNConfig.paper()
    assert (cfg.num_layers, cfg.hidden_channels, cfg.kernel_size, cfg.in_channels, cfg.s_layers) == (
        2,
        64,
        5,
        2,
        2,
    )
    assert (cfg.cell, cfg.attention) == ("cstm", True)


def test_cpu_preset_is_smaller_than_paper():
    cpu, paper = CRRNConfig.cpu(), CRRNConfig.paper()
    assert cpu.hidden_channels < paper.hidden_channels
    assert cpu.kernel_size < paper.kernel_size


@pytest.mark.parametrize(
    ("name", "cell", "attention"),
    [
        ("crrn", "cstm", True),
        ("crrn_noattn", "cstm", False),
        ("crae", "convlstm", True),
        ("crae_noattn", "convlstm", False),
    ],
)
def test_variants_set_cell_and_attention_on_the_base(name, cell, attention):
    cfg = CRRNConfig.variant(name, base=CRRNConfig.cpu())
    assert (cfg.cell, cfg.attention) == (cell, attention)
    assert cfg.hidden_channels == CRRNConfig.cpu().hidden_channels
    assert cfg.variant_name == name


def test_all_four_paper_variants_are_known():
    assert set(VARIANTS) == {"crrn", "crrn_noattn", "crae", "crae_noattn"}


def test_unknown_variant_names_the_choices():
    with pytest.raises(ValueError, match="crae_noattn"):
        CRRNConfig.variant("lstm")


def test_dict_round_trip_through_json():
    cfg = CRRNConfig.variant("crae", base=CRRNConfig.cpu())
    assert CRRNConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_the_removed_zeros_bottom_option_is_an_unknown_field():
    with pytest.raises(ValueError, match="cstm_bottom"):
        CRRNConfig.from_dict({**CRRNConfig.cpu().to_dict(), "cstm_bottom": "zeros"})


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown field"):
        CRRNConfig.from_dict({**CRRNConfig.cpu().to_dict(), "dropout": 0.1})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kernel_size", 4),
        ("hidden_channels", 0),
        ("cell", "gru"),
        ("attention", 1),
        ("s_layers", -1),
    ],
)
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        CRRNConfig(**{field: value})
