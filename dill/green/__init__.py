"""Green drop-in replacements for stdlib modules."""
