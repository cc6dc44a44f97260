"""Evaluating an attribution: LDS, counterfactual retraining and budget curves.

The LDS (linear datamodeling score) measures how well the additive prediction
`g(S) = Σ_{i∈S} τ_i` ranks held-out coalitions retrained from scratch::

    from diffusion_credit.evaluation import lds_over_sets
    from diffusion_credit.valuation import sample_datamodel_sets

    planned = sample_datamodel_sets(n, alpha=0.5, num_sets=3, coalitions_per_set=100, seed=100)
    # retrain and measure each planned coalition, then per set:
    result = lds_over_sets(scores, [(planned[s], values[s]) for s in range(3)])
    print(result)          # LDS 0.61 [0.55, 0.67] over 3 sets

- `linear_datamodeling_score` scores one set; `lds_over_sets` gives the
  mean and a 95% t-interval over independent sets, leaving out (and
  counting) sets whose values or predictions are constant.
- `counterfactual_coalitions` and `relative_change` build the "without the
  top K%" and "only the top K%" retraining check.
- `lds_budget_curve` traces the LDS against compute, in units of one retrain
  plus one inference run, over prefixes of the sampled coalitions.
"""

from .budget import BudgetPoint, lds_budget_curve
from .counterfactual import CounterfactualCoalitions, counterfactual_coalitions, relative_change, top_contributors
from .lds import LDSResult, additive_predictions, cross_fitted_lds, lds_over_sets, linear_datamodeling_score

__all__ = [
    "BudgetPoint",
    "CounterfactualCoalitions",
    "LDSResult",
    "additive_predictions",
    "counterfactual_coalitions",
    "cross_fitted_lds",
    "lds_budget_curve",
    "lds_over_sets",
    "linear_datamodeling_score",
    "relative_change",
    "top_contributors",
]
