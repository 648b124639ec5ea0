"""The model organism: a world of athletes (world), its training text (corpus), a BPE
tokenizer, the transformer's training loop (training), its checkpoint and hook checks.
Nothing here depends on the analyses (its evaluation on Fact prompts is in facts/)."""
