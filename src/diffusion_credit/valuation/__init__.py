"""Coalition samplers and estimators that turn coalition values into credit.

A valuation has three parts: a sampler that plans coalitions, the game `v`
that the rest of the project evaluates on them (the property of a model
fine-tuned or retrained on the coalition's data), and an estimator::

    import numpy as np
    from diffusion_credit.valuation import kernel_shap, sample_shapley_kernel

    n = 10
    coalitions = sample_shapley_kernel(n, 200, seed=0, paired=True)   # bool [200, n]
    values = np.array([v(row) for row in coalitions])                  # v(S) for each row
    result = kernel_shap(coalitions, values, v_empty=v(np.zeros(n, bool)), v_full=v(np.ones(n, bool)),
                         paired=True, num_batches=4)
    result.values.sum()      # == v(N) − v(∅)
    result.std, result.converged, result.forecast_num_coalitions

Estimators and the samplers they expect:

- `kernel_shap` (Shapley values, the project's default) on
  `sample_shapley_kernel`; any coalitions with `weights="kernel"`.
- `exact_shapley` / `exact_banzhaf` on `enumerate_coalitions` (n ≤ 20), from a
  value table, a bitstring mapping or a callable.
- `banzhaf_msr` on `sample_uniform`.
- `leave_one_out` on `leave_one_out_coalitions`.

`plan_coalitions` and `estimate` pick both from a `ValuationConfig`.
Coalitions are bool rows over the study's contributor order;
`coalition_to_bits` and `bits_to_coalition` convert to the run store's
bitstrings.

Bogus configurations:

- paired KernelSHAP reads rows `2j`, `2j + 1` as complements: keep the
  sampled order (`lookup_values` does) and an even count.
- the batch std needs each batch to determine the values on its own, about
  `n − 1` distinct coalitions per batch (`n − 1` complement pairs when paired).
  Otherwise the values come back with `std=None` and a warning.
"""

from .convergence import DEFAULT_THRESHOLD, convergence_ratio, convergence_summary, forecast_num_coalitions
from .estimators import ESTIMATORS, estimate, lookup_values, plan_coalitions
from .exact import Game, exact_banzhaf, exact_shapley, exact_shapley_from_values, value_table
from .kernelshap import UNCERTAINTY_METHODS, InsufficientCoalitionsError, kernel_shap, solve_constrained
from .result import ValuationResult
from .samplers import (
    MAX_ENUMERATION_CONTRIBUTORS,
    bits_to_coalition,
    coalition_to_bits,
    datamodel_coalition_size,
    enumerate_coalitions,
    leave_one_out_coalitions,
    sample_datamodel_sets,
    sample_shapley_kernel,
    sample_uniform,
    shapley_kernel_size_probabilities,
    shapley_kernel_weights,
)
from .semivalues import banzhaf_msr, leave_one_out

__all__ = [
    "DEFAULT_THRESHOLD",
    "ESTIMATORS",
    "MAX_ENUMERATION_CONTRIBUTORS",
    "UNCERTAINTY_METHODS",
    "Game",
    "InsufficientCoalitionsError",
    "ValuationResult",
    "banzhaf_msr",
    "bits_to_coalition",
    "coalition_to_bits",
    "convergence_ratio",
    "convergence_summary",
    "datamodel_coalition_size",
    "enumerate_coalitions",
    "estimate",
    "exact_banzhaf",
    "exact_shapley",
    "exact_shapley_from_values",
    "forecast_num_coalitions",
    "kernel_shap",
    "leave_one_out",
    "leave_one_out_coalitions",
    "lookup_values",
    "plan_coalitions",
    "sample_datamodel_sets",
    "sample_shapley_kernel",
    "sample_uniform",
    "shapley_kernel_size_probabilities",
    "shapley_kernel_weights",
    "solve_constrained",
    "value_table",
]
