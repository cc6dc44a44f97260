"""Entry point `baselines`: compute the attribution baselines for a study, each as an attribution run.

Methods: similarity (pixel, embedding), TRAK, D-TRAK, Journey-TRAK, relative
and renormalized influence, gradient similarity, leave-one-out (`loo`, by
`baselines.loo_method`, retraining by default) and `property_mean`. Runs whose
settings match are reused. The LDS of each is logged when datamodel runs exist.
"""

from diffusion_credit import store
from diffusion_credit.baseline_runs import resolve_methods, run_baselines
from diffusion_credit.cli import load_study, run_main, study_parser
from diffusion_credit.lds_runs import datamodel_sets, log_lds
from diffusion_credit.study import Study


def main() -> None:
    parser = study_parser(__doc__.splitlines()[0])
    parser.add_argument("--methods", default="all", help="'all' or a comma-separated list, e.g. trak,d_trak,loo.")
    args = parser.parse_args()
    methods = resolve_methods(args.methods)
    study = Study(load_study(args.config, data=args.data))
    study.tracking()

    with store.start_run(study.name, "attribute", tags={"credit.flow": "baselines"}, run_name="baselines"):
        run_ids = run_baselines(study, methods)
        sets = datamodel_sets(study.name, study.config.property.name)
        for name, run_id in run_ids.items():
            if sets:
                log_lds(run_id, sets=sets, nested=True)
            print(f"{name}: attribution run {run_id}")


if __name__ == "__main__":
    run_main(main)
