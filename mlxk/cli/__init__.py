"""The command-line edge: parse, run one operation, hand its result to the sink."""
