"""People's reviews: saving, undo/redo and history, the review queue, and the pair view."""
