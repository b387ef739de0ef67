"""A linear-chain CRF over the tag scores of a token classifier (CLUENER's ``--crf``).

Only the positions a mask selects are chained (the first token of each character), so
[CLS], [SEP], padding and word-piece continuations neither cost nor break a transition.
The transition scores are small and kept as JSON beside the checkpoint, which stays a plain
``transformers`` token classifier.
"""

from __future__ import annotations

import json

import torch
from torch import nn


def _left_align(emissions: torch.Tensor, mask: torch.Tensor,
                tags: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """The masked positions of each row moved to its front, in order."""
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    emissions = emissions.gather(1, order[..., None].expand_as(emissions))
    mask = mask.gather(1, order)
    return (emissions, mask) if tags is None else (emissions, mask, tags.gather(1, order))


class CRF(nn.Module):
    """Transition scores between tags, with start and end scores."""

    def __init__(self, n_tags: int) -> None:
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor,
            ) -> torch.Tensor:
        """Mean negative log-likelihood of the gold ``tags`` over the rows with a masked
        position; ``emissions`` (rows, positions, tags), ``mask`` (rows, positions)."""
        keep = mask.any(1)
        if not keep.any():
            return emissions.sum() * 0.0
        emissions, mask, tags = _left_align(emissions[keep].float(), mask[keep],
                                            tags[keep].clamp(min=0))
        rows = torch.arange(len(tags))
        lengths = mask.sum(1)
        # score of the gold path
        gold = self.start[tags[:, 0]] + emissions[rows, 0, tags[:, 0]]
        for t in range(1, tags.shape[1]):
            step = self.transitions[tags[:, t - 1], tags[:, t]] + emissions[rows, t, tags[:, t]]
            gold = gold + step * mask[:, t]
        gold = gold + self.end[tags[rows, lengths - 1]]
        # log partition by the forward algorithm
        alpha = self.start + emissions[:, 0]
        for t in range(1, tags.shape[1]):
            nxt = torch.logsumexp(alpha[:, :, None] + self.transitions, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end, dim=1)
        return (log_z - gold).mean()

    @torch.no_grad()
    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The best tag path of each row, one tag per masked position, in order."""
        emissions, mask = _left_align(emissions.float(), mask)
        score = self.start + emissions[:, 0]
        back = []
        for t in range(1, emissions.shape[1]):
            best, arg = (score[:, :, None] + self.transitions).max(dim=1)
            back.append(arg)
            score = torch.where(mask[:, t, None], best + emissions[:, t], score)
        score = (score + self.end).cpu()
        back = [b.cpu() for b in back]  # the walk back is scalar work: on the CPU
        paths = []
        for row, length in enumerate(mask.sum(1).tolist()):
            if length == 0:
                paths.append([])
                continue
            tag = int(score[row].argmax())
            path = [tag]
            for t in range(length - 1, 0, -1):
                tag = int(back[t - 1][row, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths

    def to_json(self) -> dict[str, list]:
        return {k: v.detach().tolist() for k, v in self.state_dict().items()}

    @classmethod
    def from_json(cls, path: str) -> CRF:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        crf = cls(len(state["start"]))
        crf.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        return crf
