"""The model organism: a world of athletes (world), its training text (corpus), a BPE
tokenizer, the transformer's training loop (training), its checkpoint, hook checks and
summary. Nothing here depends on the analyses."""
