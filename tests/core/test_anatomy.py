"""Parameter breakdown: sums to the model's total, tied embeddings counted once, real matrix shapes."""

from __future__ import annotations

import pytest

from core.anatomy import anatomy, default_lora_targets


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2", "tiny_bert"])
def test_breakdown_sums_to_the_total(request, fixture):
    model = request.getfixturevalue(fixture)
    result = anatomy(model)
    distinct = {id(p): p.numel() for p in model.model.parameters()}
    assert result.total == sum(distinct.values()) == model.info.parameters
    assert result.components["parameters"].sum() == result.total
    assert result.tensors["parameters"].sum() == result.total
    assert result.components["share"].sum() == pytest.approx(1.0)
    assert "Other" not in set(result.components["component"])  # every tensor found its component


def test_tiny_llama_components_by_hand(tiny_llama):
    # hidden 32, 2 layers, 4 query heads and 2 KV heads of 8 dims, MLP 64, vocab V.
    config = tiny_llama.model.config
    vocab = config.vocab_size
    counts = dict(zip(anatomy(tiny_llama).components["component"], anatomy(tiny_llama).components["parameters"]))
    assert counts["Token embeddings"] == vocab * 32
    assert counts["Attention"] == 2 * (32 * 32 + 32 * 16 + 32 * 16 + 32 * 32)  # q, k, v, o
    assert counts["MLP"] == 2 * 3 * 32 * 64  # gate, up, down
    assert counts["Norms"] == (2 * 2 + 1) * 32
    assert counts["Output head"] == 0  # tied to the token embeddings


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_tied_embeddings_are_flagged_and_counted_once(request, fixture):
    model = request.getfixturevalue(fixture)
    result = anatomy(model)
    assert result.tied_embeddings
    assert not any(name.startswith("lm_head") for name in result.tensors["name"])
    head = result.components.set_index("component").loc["Output head"]
    assert head["parameters"] == 0 and "tied" in head["note"]


def test_gpt2_has_learned_positions_and_bert_has_segments_and_pooler(tiny_gpt2, tiny_bert):
    gpt2 = anatomy(tiny_gpt2).components.set_index("component")["parameters"]
    assert gpt2["Position embeddings"] == 96 * 24  # n_positions × n_embd
    bert = anatomy(tiny_bert)
    counts = bert.components.set_index("component")["parameters"]
    assert counts["Position embeddings"] == 64 * 24
    assert counts["Other embeddings"] == 2 * 24  # token-type (segment) embeddings
    assert counts["Output head"] == 24 * 24 + 24  # the pooler's dense layer
    assert not bert.tied_embeddings


def test_matrices_list_real_shapes_once_per_kind(tiny_llama, tiny_gpt2):
    llama = anatomy(tiny_llama).matrices.set_index("matrix")
    assert tuple(llama.loc["self_attn.k_proj", ["d_in", "d_out", "count"]]) == (32, 16, 2)
    assert tuple(llama.loc["mlp.down_proj", ["d_in", "d_out", "count"]]) == (64, 32, 2)
    gpt2 = anatomy(tiny_gpt2).matrices.set_index("matrix")
    assert tuple(gpt2.loc["attn.c_attn", ["d_in", "d_out"]]) == (24, 72)  # fused q, k, v (Conv1D layout)


def test_default_lora_targets_are_query_and_value(tiny_llama, tiny_bert, tiny_gpt2):
    assert default_lora_targets(anatomy(tiny_llama).matrices) == ["self_attn.q_proj", "self_attn.v_proj"]
    assert default_lora_targets(anatomy(tiny_bert).matrices) == ["attention.self.query", "attention.self.value"]
    assert default_lora_targets(anatomy(tiny_gpt2).matrices) == ["attn.c_attn"]


@pytest.mark.slow
def test_smollm2_breakdown_sums_to_its_known_total(smollm2):
    result = anatomy(smollm2)
    assert result.total == 134_515_008
    assert result.components["parameters"].sum() == 134_515_008
    counts = result.components.set_index("component")["parameters"]
    assert counts["Token embeddings"] == 49_152 * 576
    assert counts["MLP"] == 30 * 3 * 576 * 1536
    assert result.tied_embeddings
