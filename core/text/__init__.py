"""The texts a judge reads: a pair and its two presentation orders, the released prompts (copied from
NiuTrans/GRAM), fitting them to a context window, the label slot and its two-token probability."""
