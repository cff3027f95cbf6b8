"""The CRRN network: config, spatial coders, recurrent cells, ST-Attention, ST-coder, the model."""

from crrn.nn.config import VARIANTS, CRRNConfig
from crrn.nn.crrn import CRRN

__all__ = ["CRRN", "VARIANTS", "CRRNConfig"]
