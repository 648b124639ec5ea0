"""Fact prompts, left-padded to a common length with an attention mask
(docs/references.md §1).

Positions are computed from the mask (`cumsum(mask) - 1`), so a padded prompt gives
the same final-token logits as the prompt run alone; `padding_check` measures that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from factlens.organism.tokenizer import single_token_id


@dataclass
class PromptBatch:
    """Left-padded prompts; the name spans `first_name_index..final_name_index` (-1: no name)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    first_name_index: torch.Tensor
    final_name_index: torch.Tensor
    final_index: torch.Tensor

    def __len__(self) -> int:
        return len(self.input_ids)

    def rows(self, index) -> "PromptBatch":
        """A sub-batch (still left-padded to the full common length)."""
        return PromptBatch(self.input_ids[index], self.attention_mask[index],
                           self.first_name_index[index], self.final_name_index[index],
                           self.final_index[index])

    @property
    def name_length(self) -> torch.Tensor:
        """Tokens in each athlete's name."""
        return self.final_name_index - self.first_name_index + 1


def encode_left_padded(tokenizer, prompts: list[str], names: list[str] | None = None,
                       prepend_bos: bool = True) -> PromptBatch:
    """Tokenise, prepend BOS, left-pad to a common length, and locate the name's last token.

    The final name token is found from the token offsets of the name's last occurrence,
    so it is right whatever the tokenizer merges around it.
    """
    bos = [tokenizer.bos_token_id] if prepend_bos else []
    encoded = tokenizer(prompts, add_special_tokens=False, return_offsets_mapping=True)
    sequences = [bos + ids for ids in encoded["input_ids"]]
    length = max(map(len, sequences))
    input_ids = torch.full((len(prompts), length), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), length), dtype=torch.long)
    first_name = torch.full((len(prompts),), -1, dtype=torch.long)
    final_name = first_name.clone()
    for row, ids in enumerate(sequences):
        pad = length - len(ids)
        input_ids[row, pad:] = torch.tensor(ids)
        attention_mask[row, pad:] = 1
        if names is not None:
            name_start = prompts[row].rindex(names[row])
            name_end = name_start + len(names[row])
            offsets = encoded["offset_mapping"][row]
            first = min(i for i, (_start, end) in enumerate(offsets) if end > name_start)
            last = max(i for i, (start, _end) in enumerate(offsets) if start < name_end)
            first_name[row] = pad + len(bos) + first
            final_name[row] = pad + len(bos) + last
    final = torch.full((len(prompts),), length - 1, dtype=torch.long)
    return PromptBatch(input_ids, attention_mask, first_name, final_name, final)


def check_left_padded(attention_mask: torch.Tensor) -> None:
    """Refuse anything but left padding with a 0/1 mask: each row must be 0...0 1...1."""
    if attention_mask is None:
        raise ValueError("padded prompts need an attention_mask; none was given")
    mask = attention_mask.long()
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("attention_mask must hold only 0 and 1")
    if not bool((mask[:, -1] == 1).all()):
        rows = (mask[:, -1] == 0).nonzero().flatten().tolist()
        raise ValueError(f"prompts must be left-padded: rows {rows[:5]} end in padding "
                         "(right padding would put the final token at a padded position)")
    if not bool((mask.diff(dim=1) >= 0).all()):
        rows = (mask.diff(dim=1) < 0).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"prompts must be left-padded: rows {rows[:5]} have padding after "
                         "real tokens")


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Each real token's position counted from the first real token; padding gets 0."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.clamp(min=0)


def forward_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   hooks=()) -> torch.Tensor:
    """Logits of a left-padded batch for a TransformerBridge or a HF causal LM, with
    positions from the mask; `hooks` ((name, function) pairs) need a bridge."""
    check_left_padded(attention_mask)
    device = next(model.parameters()).device
    inputs = dict(attention_mask=attention_mask.to(device),
                  position_ids=position_ids_from_mask(attention_mask).to(device))
    if hooks:
        return model.run_with_hooks(input_ids.to(device), fwd_hooks=list(hooks), **inputs)
    output = model(input_ids.to(device), **inputs)
    return output.logits if hasattr(output, "logits") else output


@torch.no_grad()
def final_logits(model, batch: PromptBatch, batch_size: int = 64) -> torch.Tensor:
    """Final-token logits (float32, CPU) of every prompt, in batches."""
    chunks = []
    for start in range(0, len(batch), batch_size):
        part = batch.rows(slice(start, start + batch_size))
        logits = forward_logits(model, part.input_ids, part.attention_mask)
        chunks.append(logits[:, -1].float().cpu())
    return torch.cat(chunks)


@torch.no_grad()
def padding_check(model, batch: PromptBatch, batch_size: int = 64) -> pd.DataFrame:
    """Max |padded - alone| of the final-token logits, one row per prompt."""
    padded = final_logits(model, batch, batch_size)
    differences = []
    for row in range(len(batch)):
        keep = batch.attention_mask[row].bool()
        ids = batch.input_ids[row, keep][None]
        alone = forward_logits(model, ids, torch.ones_like(ids))[0, -1].float().cpu()
        differences.append((padded[row] - alone).abs().max().item())
    return pd.DataFrame({"prompt": range(len(batch)), "max_abs_diff": differences})


def answer_ids(tokenizer, answers: tuple[str, ...]) -> torch.Tensor:
    """Token id of each answer word (it must be a single token with its leading space)."""
    return torch.tensor([single_token_id(tokenizer, word) for word in answers])


def sport_probabilities(logits: torch.Tensor, candidate_ids: torch.Tensor) -> torch.Tensor:
    """Probability the model puts on each candidate answer (full-vocabulary softmax)."""
    return logits.float().softmax(-1)[:, candidate_ids]


def three_way_accuracy(logits: torch.Tensor, candidate_ids: torch.Tensor,
                       labels: torch.Tensor) -> float:
    """Fraction of prompts whose highest-logit candidate is the correct one."""
    return float((logits[:, candidate_ids].argmax(-1) == labels).float().mean())


def accuracy_table(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Counts, 3-way accuracy, mean correct probability and kept fraction grouped by `by`."""
    grouped = frame.groupby(by, sort=True)
    return pd.DataFrame({
        "athletes": grouped.size(),
        "accuracy": grouped["correct"].mean(),
        "mean_p_correct": grouped["p_correct"].mean(),
        "kept": grouped["kept"].mean(),
    }).reset_index()


def score_prompts(model, tokenizer, athletes: pd.DataFrame, prompts: list[str],
                  sports: tuple[str, ...], threshold: float = 0.5,
                  batch_size: int = 64) -> tuple[PromptBatch, pd.DataFrame]:
    """Run the Fact prompts and mark the known facts (p(correct sport) > threshold)."""
    batch = encode_left_padded(tokenizer, prompts, list(athletes["name"]))
    logits = final_logits(model, batch, batch_size)
    candidates = answer_ids(tokenizer, sports)
    labels = torch.tensor([sports.index(s) for s in athletes["sport"]])
    probabilities = sport_probabilities(logits, candidates)
    p_correct = probabilities[torch.arange(len(labels)), labels]
    prediction = logits[:, candidates].argmax(-1)
    frame = athletes.reset_index(drop=True).assign(
        label=labels.numpy(),
        predicted=[sports[i] for i in prediction.tolist()],
        p_correct=p_correct.numpy().astype(np.float64),
        correct=(prediction == labels).numpy(),
        name_tokens=batch.name_length.numpy(),
    )
    frame["kept"] = frame["p_correct"] > threshold
    return batch, frame

