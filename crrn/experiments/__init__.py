"""The paper's experiments: `crrn.experiments.exp{N}.run(quick, out_dir) -> dict`.

Run by `spi-crrn experiment N [--quick]` (streams/cli/diagnosis.py).
"""
