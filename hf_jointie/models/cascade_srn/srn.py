"""The Selection Recurrent Network of Cascade-SRN (Sect. 3.3, Eq. 1-10), shared by its three modules.

Its choices (biases, the squashed cell of Eq. 8, own weights for the master gates of `c~`) are listed in the docstring
of `modeling_cascade_srn.py`.
"""

from __future__ import annotations

import torch
from torch import nn

#: Order of the seven SRN memories / representations (Eq. 6-7, 10).
MEMORIES = ("e", "s", "o", "es", "eo", "so", "eso")


#: Eq. 4-5 as a matrix: row g holds the coefficients of the gate `g` ([`MEMORIES`] order) on the seven monomials
#: `(rho_e, rho_s, rho_o, rho_e rho_s, rho_e rho_o, rho_s rho_o, rho_e rho_s rho_o)` of the three master gates.
INCLUSION_EXCLUSION = torch.tensor([
    [1, 0, 0, -1, -1, 0, 1],
    [0, 1, 0, -1, 0, -1, 1],
    [0, 0, 1, 0, -1, -1, 1],
    [0, 0, 0, 1, 0, 0, 0],
    [0, 0, 0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 1],
], dtype=torch.float)


def master_monomials(rho_e: torch.Tensor, rho_s: torch.Tensor, rho_o: torch.Tensor) -> torch.Tensor:
    """The seven products of the master gates (Eq. 4) stacked along a new dimension -2."""
    rho_es = rho_e * rho_s
    return torch.stack([rho_e, rho_s, rho_o, rho_es, rho_e * rho_o, rho_s * rho_o, rho_es * rho_o], dim=-2)


def selection_gates(rho_e: torch.Tensor, rho_s: torch.Tensor, rho_o: torch.Tensor) -> torch.Tensor:
    """Eq. 4-5: the three independent and four shared gates from three master gates, stacked in [`MEMORIES`] order
    along a new dimension -2."""
    monomials = master_monomials(rho_e, rho_s, rho_o)
    return torch.einsum("gm,...mh->...gh", INCLUSION_EXCLUSION.to(monomials), monomials)


class SelectionRecurrentNetwork(nn.Module):
    """The SRN of Sect. 3.3 (Eq. 1-10), unidirectional (the paper's default).

    Like `torch.nn.LSTM`, the input projections of all time steps are computed at once and only the recurrent part
    runs in a loop over time steps. Eq. 5-7 are linear in the monomials of the master gates (Eq. 4): every memory is
    `s_g = sum_m M[g, m] u_m` with `M` = [`INCLUSION_EXCLUSION`] and `u_m = mono_m(c~ gates) * c~ +
    mono_m(c^ gates) * c^`. The loop therefore keeps only the `u_m` (two multiply-adds on `7 x H`), Eq. 8 reads them
    through the cell weight multiplied by `M` once per call (the same linear map), and `M` and the `tanh` of Eq. 10
    are applied to all time steps at once after the loop. A step is thus two matrix products (the recurrent gate
    pre-activations and Eq. 8, `16 H^2` multiply-adds per word, which no reformulation removes: both sit on the
    recurrent path behind a nonlinearity) and about a dozen element-wise ops on `batch x H` or `batch x 7H` tensors.
    Measured (batch 32, 37 words, H = 384, one CPU thread): the matrix products are ~75% of the loop's time;
    `torch.jit.script` of the loop gave no further gain, so the loop stays eager.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        # rows: f, o, c^ (Eq. 1), master gates of c^ (Eq. 3, W_2), master gates of c~ (Eq. 3 again, W_3)
        self.input_gates = nn.Linear(input_size, 9 * hidden_size)
        self.hidden_gates = nn.Linear(hidden_size, 9 * hidden_size, bias=False)
        self.cell = nn.Linear(7 * hidden_size, hidden_size)  # Eq. 8

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """`batch x steps x input` -> the seven representations of every step, `batch x steps x 7 x H` (Eq. 10).
        Padding sits after the words, so a forward pass never lets it reach a real word."""
        size, batch = self.hidden_size, inputs.size(0)
        mixing = INCLUSION_EXCLUSION.to(inputs)
        projected = self.input_gates(inputs).transpose(0, 1).contiguous()  # steps x batch x 9H
        recurrent = self.hidden_gates.weight.t()
        # Eq. 8's weight on the monomial memories u: W_cell (M (x) I), i.e. column block m is sum_g M[g, m] W_g
        cell_weight = torch.einsum("igj,gm->imj", self.cell.weight.view(size, 7, size), mixing).flatten(1).t()
        hidden = inputs.new_zeros(batch, size)
        cell = torch.zeros_like(hidden)
        mixed = []
        for pre in projected:
            gates = torch.addmm(pre, hidden, recurrent)
            squashed = torch.sigmoid(gates)  # f, o (Eq. 1) and both sets of master gates (Eq. 3)
            candidate = torch.tanh(gates[:, 2 * size: 3 * size])  # c^ (Eq. 1)
            history = squashed[:, :size] * cell  # c~ (Eq. 2)
            masters = squashed[:, 3 * size:].view(batch, 2, 3, size)  # [c^ | c~] x [e, s, o]
            monomials = master_monomials(*masters.unbind(2))  # batch x 2 x 7 x H
            memories = torch.addcmul(monomials[:, 0] * candidate.unsqueeze(1), monomials[:, 1], history.unsqueeze(1))
            cell = torch.tanh(torch.addmm(self.cell.bias, memories.flatten(1), cell_weight))  # Eq. 8, squashed
            hidden = squashed[:, size: 2 * size] * torch.tanh(cell)  # Eq. 9
            mixed.append(memories)
        return torch.tanh(torch.einsum("gm,tbmh->btgh", mixing, torch.stack(mixed)))  # Eq. 6-7, then Eq. 10


def reverse_words(inputs: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
    """Reverse each row's words in place of the words (`batch x steps x ...`), leaving the padding after them; the
    map is its own inverse. The backward direction of the bidirectional ablations (Table 2) runs on this."""
    steps = torch.arange(inputs.size(1), device=inputs.device)
    lengths = word_mask.sum(dim=1, keepdim=True)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return inputs.gather(1, index.view(*index.shape, *([1] * (inputs.dim() - 2))).expand_as(inputs))
