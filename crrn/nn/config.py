"""CRRNConfig: the network's hyper-parameters, named presets and the four paper variants.

The config is stored inside the model file, so it must round-trip through JSON (`to_dict`/`from_dict`)
and reject anything it does not understand with an error that names the field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

CellKind = Literal["cstm", "convlstm"]

# The four models compared in the paper: (cell, attention).
VARIANTS: dict[str, tuple[CellKind, bool]] = {
    "crrn": ("cstm", True),  # CRRN: CSTM + ST-Attention
    "crrn_noattn": ("cstm", False),  # CRRN\a
    "crae": ("convlstm", True),  # CRAE: ConvLSTM + ST-Attention
    "crae_noattn": ("convlstm", False),  # CRAE\a
}


@dataclass(frozen=True)
class CRRNConfig:
    """Shape of a CRRN network. Defaults are the paper's setting (2 layers, 64 channels, 5x5).

    in_channels:      measurements per pad (2: normalized volume and height).
    hidden_channels:  Nc, channels of every hidden layer (S-coder and ST-coder).
    num_layers:       stacked recurrent cells in the ST-Encoder and in the ST-Decoder.
    kernel_size:      odd kernel of every convolution except the CSTM's 1x1 fusion.
    s_layers:         stride-2 modules in the S-Encoder and S-Decoder (the grid shrinks by 2**s_layers).
    cell:             "cstm" (the paper's cell) or "convlstm" (the CRAE baseline).
    attention:        ST-Attention shortcut between encoder step t and decoder step t.
    attention_kernel: odd kernel of the attention's C -> 1 convolution.
    peephole:         learnable per-channel peepholes V_i, V_f, V_o.
    (CSTM layer 1's "cell state of the layer below" is always the top layer's cell state of the
    previous step, the zigzag flow of PredRNN: crrn/nn/st_coder.py. The former "zeros" choice left
    layer 1's fusion of the layer below without any gradient, so it is gone.)
    mask_channel:     feed the pad mask as an extra input channel, so the model can tell an empty or
                      hidden cell from a pad whose normalized value is 0 (not in the paper).
    """

    in_channels: int = 2
    hidden_channels: int = 64
    num_layers: int = 2
    kernel_size: int = 5
    s_layers: int = 2
    cell: CellKind = "cstm"
    attention: bool = True
    attention_kernel: int = 5
    peephole: bool = True
    mask_channel: bool = False

    def __post_init__(self) -> None:
        for name in ("in_channels", "hidden_channels", "num_layers", "kernel_size", "attention_kernel"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"CRRNConfig.{name}: expected a positive int, got {value!r}")
        if not isinstance(self.s_layers, int) or isinstance(self.s_layers, bool) or self.s_layers < 0:
            raise ValueError(f"CRRNConfig.s_layers: expected an int >= 0, got {self.s_layers!r}")
        for name in ("kernel_size", "attention_kernel"):
            if getattr(self, name) % 2 == 0:
                raise ValueError(
                    f"CRRNConfig.{name}: must be odd so 'same' padding keeps the grid size, "
                    f"got {getattr(self, name)}"
                )
        if self.cell not in ("cstm", "convlstm"):
            raise ValueError(f"CRRNConfig.cell: expected 'cstm' or 'convlstm', got {self.cell!r}")
        for name in ("attention", "peephole", "mask_channel"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"CRRNConfig.{name}: expected a bool, got {getattr(self, name)!r}")

    @property
    def grid_multiple(self) -> int:
        """Grids are padded to a multiple of this inside the model."""
        return 2**self.s_layers

    @property
    def variant_name(self) -> str:
        return next(
            name for name, (cell, attn) in VARIANTS.items() if (cell, attn) == (self.cell, self.attention)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CRRNConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"CRRNConfig: unknown field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**data)

    @classmethod
    def paper(cls) -> CRRNConfig:
        """The paper's setting: 2 layers everywhere, 64 channels, 5x5 kernels, CSTM + attention."""
        return cls()

    @classmethod
    def cpu(cls) -> CRRNConfig:
        """Small enough to train in minutes on 2 CPU cores for ~1,000-pad layouts (see bench_model.py)."""
        return cls(hidden_channels=16, kernel_size=3, attention_kernel=3, mask_channel=True)

    @classmethod
    def variant(cls, name: str, base: CRRNConfig | None = None) -> CRRNConfig:
        """One of the paper's four models ("crrn", "crrn_noattn", "crae", "crae_noattn") on `base`
        (default: the paper's setting)."""
        if name not in VARIANTS:
            raise ValueError(
                f"CRRNConfig.variant: unknown variant {name!r}; choose one of {sorted(VARIANTS)}"
            )
        cell, attention = VARIANTS[name]
        return replace(base if base is not None else cls.paper(), cell=cell, attention=attention)
