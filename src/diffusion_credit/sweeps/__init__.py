"""Optuna sweeps over pruning and fine-tuning settings, scored by LDS against a compute budget.

    from diffusion_credit.sweeps import load_sweep_spec, run_sweep

    spec = load_sweep_spec("sweeps/prune-finetune.yaml", budget=600)
    outcome = run_sweep("configs/smoke.yaml", spec, trials=4, storage="sqlite:///optuna.db")
    outcome.best_number, outcome.front_numbers

`spec` contains the YAML definitions, `storage` the Optuna storages, `trials`
the objective and cost of one trial, `summary` the best trial and Pareto
front, `runner` the loop with its MLflow runs.
"""

from .runner import TAG_SWEEP, TAG_TRIAL, SweepOutcome, run_sweep
from .spec import ParamSpec, SamplerSpec, SweepSpec, SweepSpecError, load_sweep_spec, parse_sweep_spec
from .storage import DEFAULT_STORAGE, make_storage
from .summary import best_trial, nondominated, pareto_front
from .trials import TrialResult, lds_objective

__all__ = [
    "TAG_SWEEP",
    "TAG_TRIAL",
    "DEFAULT_STORAGE",
    "ParamSpec",
    "SamplerSpec",
    "SweepSpec",
    "SweepSpecError",
    "SweepOutcome",
    "TrialResult",
    "load_sweep_spec",
    "parse_sweep_spec",
    "make_storage",
    "run_sweep",
    "best_trial",
    "pareto_front",
    "nondominated",
    "lds_objective",
]
