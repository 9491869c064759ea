"""`make screenshots`: PNGs of what a user looks at, rendered from a real demo stack."""
