"""One rule per trigger kind: a parsed event in, a `Disposition` (its faults, what was ignored, unreadable parts) out."""
