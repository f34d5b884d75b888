"""One rule per trigger kind: a parsed event in, an `Outcome` (faults and/or ignored) out."""
