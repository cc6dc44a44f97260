"""Entry point `train`: train the full model `θ*` on all contributors (or reuse it).

Output: a `train` run with the model artifact, loss curve and sample grid.
"""

from diffusion_credit import stages
from diffusion_credit.cli import load_study, run_main, study_parser
from diffusion_credit.study import Study


def main() -> None:
    args = study_parser(__doc__.splitlines()[0]).parse_args()
    study = Study(load_study(args.config, data=args.data))
    study.tracking()
    stages.full_model(study, nested=False)


if __name__ == "__main__":
    run_main(main)
