"""The interpretability illusion: subspace primitives (subspace), interventions on prompt
pairs (intervention), direction finders (das), the checks and their red flags (checks),
the site choice (sites), the rank-1 weight edit (editing) and the paper's claims."""
