"""Lock-order analysis: order builds lockdep's dependency graph over explored transitions, rules holds the rule files."""
