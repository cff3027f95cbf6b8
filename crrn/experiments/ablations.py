"""Rule ablations of a trained model: the same network and limits with one alarm rule taken out.

Experiments 2 and 4 report these beside the full model, so what each rule adds (and costs) is measured
on the same run and the same trained network: `without_clusters` drops the cluster-outlier rule
(crrn/clusters.py) and keeps every other limit as calibrated (the single-pad limits stay at their share
of the board budget, so the ablation is not a re-calibrated rival that would own the whole outlier
share).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from crrn.model_file import ModelBundle


def without_clusters(bundle: ModelBundle) -> ModelBundle:
    """The same model with no cluster-outlier rule: single-pad limits and process alarms unchanged."""
    return replace(bundle, evidence={m: replace(e, cluster=None) for m, e in bundle.evidence.items()})


# row suffix -> ablation, in the order the experiments report them
ABLATIONS: dict[str, Callable[[ModelBundle], ModelBundle]] = {
    "no_cluster": without_clusters,
}
