"""One module per studio tab; each `build(ctx)` lays out its tab and wires its events to core calls."""
