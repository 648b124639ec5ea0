"""Fact finding (how the model recalls an athlete's sport): left-padded Fact prompts and
their scoring, the organism's evaluation, activation patching, sport probes, and the
claims of the fact-finding paper."""
