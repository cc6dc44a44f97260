"""Entry point `sweep`: tune pruning and fine-tuning settings for LDS under a compute budget.

Input: a study config, a sweep definition (`sweeps/*.yaml`), the number of
trials this process runs, an Optuna storage and optionally a budget in
seconds. Output: a `sweep` run with one nested run per trial (params, `lds`,
`cost`, `feasible`, the attribution run id) and the study's `trials.csv`,
`best.csv` or `pareto.csv`, and `sweep.png`. Processes given the same
storage and definition share one Optuna study.
"""

from diffusion_credit.cli import optional, parse_int, parse_number, run_main, study_parser
from diffusion_credit.sweeps import DEFAULT_STORAGE, load_sweep_spec, run_sweep


def main() -> None:
    parser = study_parser(__doc__.splitlines()[0])
    parser.set_defaults(config="configs/smoke.yaml")
    parser.add_argument("--sweep", default="sweeps/prune-finetune.yaml", help="Sweep definition (YAML) in sweeps/.")
    parser.add_argument("--trials", default="4", help="Trials this process runs (an integer >= 0).")
    parser.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        help="Optuna storage: an RDB URL (sqlite:///optuna.db, postgresql://user@host/db) or journal:<path>.",
    )
    parser.add_argument("--budget", default="", help="Overrides the definition's budget: max compute seconds per trial.")
    args = parser.parse_args()

    trials = parse_int(args.trials, "--trials")
    budget = optional(args.budget)
    spec = load_sweep_spec(args.sweep, budget=None if budget is None else parse_number(budget, "--budget", unit="seconds"))
    overrides = {"data.path": args.data} if optional(args.data) is not None else {}
    run_sweep(args.config, spec, trials=trials, storage=optional(args.storage), overrides=overrides)



if __name__ == "__main__":
    run_main(main)
