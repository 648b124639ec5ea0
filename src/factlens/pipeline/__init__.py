"""The pipeline around the science: the command line (cli) and one module per rule
(stages), the claims collected in the report's order (claims), the report, the archive
and its manifest, and the aggregates over seeds."""
