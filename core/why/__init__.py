""""Why this token?": attribution, logit attribution, ablation, patching and induction."""
