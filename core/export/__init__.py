"""What leaves the studio: exports in each format (TRL DPO, rationale SFT, the full dump) and a
dataset's deletion, which writes its dump first."""
