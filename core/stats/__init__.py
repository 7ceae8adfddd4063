"""Statistics every figure shown to a person uses: intervals, and how many pairs it takes to tell."""
