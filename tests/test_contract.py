"""The model contract every architecture keeps: a training step on a batch without entities and without relations,
and strict `from_pretrained` (never a silently random model)."""

from __future__ import annotations

import pytest
import torch
from conftest import ENTITY_TYPES, RELATION_TYPES, TOY_ROWS
from safetensors.torch import load_file, save_file
from transformers import AutoModel

from hf_jointie import ARCHITECTURES
from hf_jointie.training import JointIEDataCollator

EMPTY_ROWS = [
    {"id": "empty-0", "tokens": ["Nothing", "happened", "here", "."], "entities": [], "relations": []},
    {"id": "empty-1", "tokens": ["-", "-"], "entities": [], "relations": []},
]


def _model(model_type: str, encoder_config):
    config_class, model_class = ARCHITECTURES[model_type]
    relation_types = RELATION_TYPES if config_class.predicts_relations else []
    torch.manual_seed(0)
    model = model_class(
        config_class(encoder_config=encoder_config, entity_types=ENTITY_TYPES, relation_types=relation_types)
    )
    return model, relation_types


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_trains_a_step_on_a_batch_without_entities_and_relations(model_type, tokenizer, tiny_bert_config):
    model, relation_types = _model(model_type, tiny_bert_config)
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, relation_types)(EMPTY_ROWS)
    batch.pop("references")
    model.train()
    loss = model(**batch).loss
    assert loss is not None and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.inference_mode():
        predictions = model.decode(model(**{k: v for k, v in batch.items() if "labels" not in k}), batch)
    assert len(predictions) == len(EMPTY_ROWS)


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_from_pretrained_refuses_missing_and_unused_tensors(model_type, tmp_path, tiny_bert_config):
    model, _ = _model(model_type, tiny_bert_config)
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    tensors = load_file(weights)
    assert type(AutoModel.from_pretrained(tmp_path)) is type(model)  # the intact checkpoint loads
    dropped = sorted(key for key in tensors if not key.startswith("encoder."))[0]
    save_file({k: v for k, v in tensors.items() if k != dropped}, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="missing from the checkpoint") as error:
        AutoModel.from_pretrained(tmp_path)
    assert dropped in str(error.value)
    module = dropped.rsplit(".", 2)[0]
    fresh = AutoModel.from_pretrained(tmp_path, fresh_parts=(module,))  # asked for explicitly: allowed
    assert type(fresh) is type(model)
    save_file({**tensors, "stray.weight": torch.zeros(2)}, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="does not use.*stray.weight"):
        AutoModel.from_pretrained(tmp_path)


def test_corrupt_or_partial_checkpoint_directories_name_the_file(tmp_path, tiny_bert_config):
    model, _ = _model("iter", tiny_bert_config)
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="model.safetensors is truncated"):
        AutoModel.from_pretrained(tmp_path)
    weights.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    with pytest.raises(ValueError, match="model.safetensors is not a valid safetensors file"):
        AutoModel.from_pretrained(tmp_path)
    weights.unlink()
    with pytest.raises(ValueError, match="model.safetensors is missing"):
        AutoModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ValueError, match="config.json is missing"):
        type(model).from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="config.json"):  # AutoModel stops earlier, in AutoConfig, naming it too
        AutoModel.from_pretrained(tmp_path)


def test_unknown_config_field_is_refused(tmp_path, tiny_bert_config):
    model, _ = _model("iter", tiny_bert_config)
    model.save_pretrained(tmp_path)
    config = (tmp_path / "config.json").read_text()
    (tmp_path / "config.json").write_text(config.replace('"max_nest_depth"', '"max_span_width": 4, "max_nest_depth"'))
    with pytest.raises(ValueError, match="max_span_width"):
        AutoModel.from_pretrained(tmp_path)


def test_toy_rows_fit_the_contract_batch(tokenizer):
    batch = JointIEDataCollator(tokenizer, ENTITY_TYPES, RELATION_TYPES)(TOY_ROWS)
    # the shared batch carries both word alignments: first subword and last subword (ITER's right bracket)
    assert {"word_index", "word_end_index", "word_mask"} <= set(batch)
    row = 2  # "Johnsonville" is two subwords
    assert batch["word_end_index"][row, 3] == batch["word_index"][row, 3] + 1


def test_best_of_overlapping_keeps_what_no_stronger_overlapping_span_of_its_row_beats():
    from hf_jointie.modeling_utils import best_of_overlapping

    generator = torch.Generator().manual_seed(0)
    rows = torch.randint(0, 4, (60,), generator=generator)  # unsorted rows
    starts = torch.randint(0, 12, (60,), generator=generator)
    ends = starts + torch.randint(1, 4, (60,), generator=generator)
    scores = torch.randint(0, 5, (60,), generator=generator).float() / 4  # ties, broken by the earlier item

    def beats(j: int, i: int) -> bool:
        overlap = rows[i] == rows[j] and starts[i] < ends[j] and starts[j] < ends[i]
        return bool(overlap and (scores[j] > scores[i] or (scores[j] == scores[i] and j < i)))

    expected = [not any(beats(j, i) for j in range(60)) for i in range(60)]
    assert best_of_overlapping(rows, starts, ends, scores).tolist() == expected
    assert 0 < sum(expected) < 60
    assert best_of_overlapping(*(torch.zeros(0, dtype=torch.long),) * 3, torch.zeros(0)).tolist() == []


def test_rank_within_rows_and_pad_by_row_number_items_per_row():
    from hf_jointie.modeling_utils import pad_by_row, rank_within_rows

    rows = torch.tensor([0, 0, 2, 2, 2, 5])
    counts, row_start, rank = rank_within_rows(rows, num_rows=7)
    assert counts.tolist() == [2, 0, 3, 0, 0, 1, 0] and row_start.tolist()[:6] == [0, 2, 2, 5, 5, 5]
    assert rank.tolist() == [0, 1, 0, 1, 2, 0]
    mask, padded = pad_by_row(rows, 7, torch.arange(10, 16))
    assert mask.sum(1).tolist() == counts.tolist()
    assert padded[2].tolist() == [12, 13, 14] and padded[5].tolist() == [15, -1, -1] and padded[1].tolist() == [-1] * 3


def test_pairs_within_rows_lists_every_ordered_pair_of_a_row_and_its_reverse():
    from hf_jointie.modeling_utils import pairs_within_rows

    rows = torch.tensor([0, 0, 2, 2, 2, 5])
    first, second, rank, reverse = pairs_within_rows(rows)
    expected = [(i, j) for i in range(6) for j in range(6) if rows[i] == rows[j]]
    assert list(zip(first.tolist(), second.tolist())) == expected  # (row, i, j) order, self pairs included
    assert rank.tolist() == [0, 1, 0, 1, 2, 0]
    assert [(second[k].item(), first[k].item()) for k in range(len(first))] == [
        (first[r].item(), second[r].item()) for r in reverse
    ]
    empty = pairs_within_rows(torch.zeros(0, dtype=torch.long))
    assert all(len(t) == 0 for t in empty)
