"""`python -m factlens <stage> ...`: the command line every Snakemake rule calls."""

from factlens.pipeline.cli import main

if __name__ == "__main__":
    main()
