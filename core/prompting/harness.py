"""Multiple-choice scores as lm-evaluation-harness names them, from each label's log-likelihood.

With ll = the sum of the label tokens' log-probabilities after the prompt (" " + label):
- `acc`: the label with the highest ll;
- `acc_norm`: ll divided by the label's length in characters (`len(choice)`, as the harness's
  `process_results` computes it; for ASCII labels that is its length in bytes);
- `acc_bytes`: ll divided by the label's length in UTF-8 bytes;
- `acc_mutual_info`: ll − ll_null, the label's log-likelihood after a content-free prompt subtracted
  (pointwise mutual information); the harness's null context is empty, i.e. only the model's
  start / end-of-text token, and so is ours;
- `mean` (this app's per-token mean): ll divided by the label's number of tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RULES = ("acc", "acc_norm", "acc_bytes", "acc_mutual_info", "mean")


def choice_scores(rule: str, logprob: np.ndarray, labels: Sequence[str], n_tokens: np.ndarray | None = None,
                  unconditional: np.ndarray | None = None) -> np.ndarray:
    """(item, label) scores under the rule; logprob (item, label) sums; unconditional (label,) or (item, label)."""
    logprob = np.asarray(logprob, dtype=np.float64)
    if rule == "acc":
        return logprob
    if rule == "acc_norm":
        return logprob / np.array([max(len(label), 1) for label in labels], dtype=np.float64)
    if rule == "acc_bytes":
        return logprob / np.array([max(len(label.encode("utf-8")), 1) for label in labels], dtype=np.float64)
    if rule == "acc_mutual_info":
        if unconditional is None:
            raise ValueError("acc_mutual_info needs the labels' log-likelihoods after a content-free prompt.")
        return logprob - np.asarray(unconditional, dtype=np.float64)
    if rule == "mean":
        if n_tokens is None:
            raise ValueError("The per-token mean needs each label's token count.")
        return logprob / np.maximum(np.asarray(n_tokens, dtype=np.float64), 1)
    raise ValueError(f"Unknown score {rule!r}; choose one of {', '.join(RULES)}.")


def predictions(rule: str, logprob: np.ndarray, labels: Sequence[str], **extra) -> np.ndarray:
    """(item,) index of the best label under the rule (ties: the first label, as numpy's argmax)."""
    return np.argmax(choice_scores(rule, logprob, labels, **extra), axis=1)
