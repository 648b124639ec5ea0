"""Fact finding (how a model recalls an athlete's sport): left-padded Fact prompts and
their scoring, the evaluation on Fact prompts (and the organism's summary of it),
activation patching, sport probes, and the claims of the fact-finding paper."""
