"""Every core entry point with LLM_LENS_DEVICE=cuda (marked gpu): model on the GPU, inputs moved, results CPU numpy.

Skipped where torch sees no CUDA GPU. Each call is checked to have computed on the GPU (the peak of
GPU memory rises above the weights while it runs) and, on the tiny models, to agree with the same
call on the CPU copy of the model. The real SmolLM2 and MiniLM run when `slow` tests run too.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

import core
from core import embeddings, lens, prediction
from core.prompting import label_scoring, prompt_eval
from core.runtime import devices
from core.sampling import GenerationSettings
from core.why import attribution, induction, interventions, logit_attribution, patching, targets

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="no CUDA GPU: torch.cuda.is_available() is False (a CPU-only torch build or no "
                              "GPU on this machine); these tests run the core entry points with LLM_LENS_DEVICE=cuda"),
]

PROMPT = "The capital of France is"
CORRUPT = "The capital of Paris is"  # the same token length as PROMPT (the patching tests use this pair)
LABEL_PREFIX = "Classify.\n\nText: Loved it\nLabel: positive\n\nText:"
LABEL_SUFFIXES = [" great film\nLabel:", " boring and far too long\nLabel:"]
EXAMPLES = (("Loved it", "positive"), ("Hated it", "negative"), ("Great fun", "positive"), ("Dull", "negative"))
ITEMS = (("so good", "positive"), ("bad film", "negative"))
# The CPU twin of each GPU model (None: the real models are compared by what they compute, not twice).
DECODERS = ["tiny_llama", "tiny_gpt2", pytest.param("smollm2", marks=pytest.mark.slow)]
CPU_TWIN = {"tiny_llama": "tiny_llama", "tiny_gpt2": "tiny_gpt2", "tiny_bert": "tiny_bert"}
SOURCES = {"tiny_llama": "tiny_llama_path", "tiny_gpt2": "tiny_gpt2_path", "tiny_bert": "tiny_bert_path"}
REAL = {"smollm2": "SmolLM2-135M-Instruct", "minilm": "all-MiniLM-L6-v2"}


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _load_on_gpu(request: pytest.FixtureRequest, name: str) -> core.LoadedModel:
    """The named model loaded with LLM_LENS_DEVICE=cuda; fails unless its weights are on the GPU."""
    with _env(LLM_LENS_DEVICE="cuda"):
        if name in REAL:
            home = request.getfixturevalue("real_model_cache") if name == "smollm2" else None
            with _env(XDG_CACHE_HOME=str(home)) if home else contextlib.nullcontext():
                model = core.load_model(REAL[name])
        else:
            model = core.load_model(str(request.getfixturevalue(SOURCES[name])))
    assert devices.model_device(model).type == "cuda"
    return model


@pytest.fixture(autouse=True)
def _cuda_device(monkeypatch):
    monkeypatch.setenv("LLM_LENS_DEVICE", "cuda")  # whatever reads it at call time sees the GPU too


@pytest.fixture(scope="module", params=DECODERS)
def gpu_decoder(request) -> Iterator[tuple[core.LoadedModel, core.LoadedModel | None]]:
    """(the decoder on the GPU, its CPU twin or None for the real model)."""
    model = _load_on_gpu(request, request.param)
    twin = CPU_TWIN.get(request.param)
    yield model, request.getfixturevalue(twin) if twin else None
    del model
    torch.cuda.empty_cache()


@pytest.fixture(scope="module", params=["tiny_bert", pytest.param("minilm", marks=pytest.mark.slow)])
def gpu_encoder(request) -> Iterator[tuple[core.LoadedModel, core.LoadedModel | None]]:
    model = _load_on_gpu(request, request.param)
    twin = CPU_TWIN.get(request.param)
    yield model, request.getfixturevalue(twin) if twin else None
    del model
    torch.cuda.empty_cache()


def on_gpu(call: Callable[[], object]) -> object:
    """call()'s result, after checking that it computed on the GPU (activations raised the memory peak)."""
    torch.cuda.synchronize()
    resting = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    result = call()
    torch.cuda.synchronize()
    assert torch.cuda.max_memory_allocated() > resting, "the call allocated nothing on the GPU: it ran elsewhere"
    return result


def _cpu_numpy(*arrays: np.ndarray) -> None:
    for array in arrays:
        assert isinstance(array, np.ndarray), type(array)


def _ids(model: core.LoadedModel) -> tuple[int, ...]:
    return interventions.prompt_ids(model, PROMPT)


def _top(model: core.LoadedModel, ids) -> int:
    return int(np.argmax(targets.next_token_logits(model, ids)))


def test_analyze_matches_the_cpu(gpu_decoder):
    model, twin = gpu_decoder
    result = on_gpu(lambda: core.analyze(model, PROMPT))
    _cpu_numpy(result.attention, result.next_token_logits)
    if twin is not None:
        reference = core.analyze(twin, PROMPT)
        np.testing.assert_allclose(result.attention, reference.attention, atol=1e-4)
        np.testing.assert_allclose(result.next_token_logits, reference.next_token_logits, atol=1e-3)


def test_generate_and_stream_generate(gpu_decoder):
    model, twin = gpu_decoder
    settings = GenerationSettings(max_new_tokens=4)
    completions = on_gpu(lambda: core.generate(model, [PROMPT, "Hello"], settings))
    assert len(completions) == 2
    steps = on_gpu(lambda: list(core.stream_generate(model, [PROMPT], settings)))
    assert steps[-1].completions is not None
    if twin is not None:  # greedy on a tiny model: the same tokens on either device
        assert [c.text for c in completions] == [c.text for c in core.generate(twin, [PROMPT, "Hello"], settings)]


def test_prediction_and_targets(gpu_decoder):
    model, twin = gpu_decoder
    step = on_gpu(lambda: prediction.predict_step(model, PROMPT))
    _cpu_numpy(step.logits)
    ids = _ids(model)
    logits = on_gpu(lambda: targets.next_token_logits(model, ids))
    _cpu_numpy(logits)
    assert on_gpu(lambda: targets.answer_ids(model, PROMPT, 3))
    if twin is not None:
        np.testing.assert_allclose(logits, targets.next_token_logits(twin, ids), atol=1e-3)


def test_decoder_embeddings(gpu_decoder):
    model, _ = gpu_decoder
    states = on_gpu(lambda: embeddings.embed_text(model, PROMPT))
    _cpu_numpy(states.vectors_at(0))
    neighbours = embeddings.nearest_neighbours(model, _ids(model)[-1], k=3)
    assert len(neighbours.ids) == 3


def test_sentence_embeddings(gpu_encoder):
    model, twin = gpu_encoder
    sentences = ["A cat sat.", "A dog ran far away."]
    result = on_gpu(lambda: embeddings.sentence_embeddings(model, sentences))
    _cpu_numpy(result.vectors)
    if twin is not None:
        np.testing.assert_allclose(result.vectors, embeddings.sentence_embeddings(twin, sentences).vectors, atol=1e-4)


def test_label_scoring_with_and_without_the_prefix_cache(gpu_decoder):
    model, twin = gpu_decoder
    labels = ["positive", "negative"]
    cached = on_gpu(lambda: label_scoring.score_labels(model, LABEL_PREFIX, LABEL_SUFFIXES, labels))
    plain = on_gpu(lambda: label_scoring.score_labels(model, LABEL_PREFIX, LABEL_SUFFIXES, labels, use_cache=False))
    np.testing.assert_allclose(cached.scores(), plain.scores(), atol=1e-3)
    if twin is not None:
        reference = label_scoring.score_labels(twin, LABEL_PREFIX, LABEL_SUFFIXES, labels)
        np.testing.assert_allclose(cached.scores(), reference.scores(), atol=1e-3)


@pytest.mark.parametrize("mode", ["rank", "generate"])
def test_prompt_evaluation(gpu_decoder, mode):
    model, _ = gpu_decoder
    request = prompt_eval.EvalRequest("Classify the sentiment.", EXAMPLES, ITEMS,
                                      GenerationSettings(max_new_tokens=3, stop=("\n",)), few_k=2, mode=mode)
    result = on_gpu(lambda: prompt_eval.evaluate(model, request))
    assert result is not None


def test_input_attribution(gpu_decoder):
    model, twin = gpu_decoder
    ids = _ids(model)
    target = _top(model, ids)
    result = on_gpu(lambda: attribution.attribute_converged(model, ids, target))
    _cpu_numpy(result.integrated, result.grad_x_input)
    assert result.tried and np.isfinite(result.relative_error)
    if twin is not None:
        reference = attribution.attribute(twin, ids, target, steps=result.steps)
        np.testing.assert_allclose(result.integrated, reference.integrated, atol=1e-3)


def test_logit_attribution_ablation_and_scan(gpu_decoder):
    model, _ = gpu_decoder
    ids = _ids(model)
    target = _top(model, ids)
    dla = on_gpu(lambda: logit_attribution.logit_attribution(model, ids, target))
    assert abs(dla.residual) < 1e-2 * max(1.0, abs(dla.logit))
    for mode in interventions.ABLATIONS:
        ablated = on_gpu(functools.partial(interventions.ablate_heads, model, ids, [(0, 0)], mode))
        _cpu_numpy(ablated.before, ablated.after)
    scan = on_gpu(lambda: interventions.scan_heads(model, ids, target))
    assert scan.shape == (model.info.layers, model.info.heads)


def test_activation_patching(gpu_decoder):
    model, _ = gpu_decoder
    result = on_gpu(lambda: patching.patch(model, PROMPT, CORRUPT, foil=3))
    assert result.residual.shape == (model.info.layers, len(result.clean_ids))


def test_induction_and_its_loss_scan(gpu_decoder):
    model, _ = gpu_decoder
    result = on_gpu(lambda: induction.induction(model, 8, seed=0))
    _cpu_numpy(result.scores)
    scan = on_gpu(lambda: induction.loss_drop_scan(model, result.ids, 8))
    assert scan.shape == (model.info.layers, model.info.heads)


def test_logit_lens(gpu_decoder):
    model, _ = gpu_decoder
    analysis = core.analyze(model, PROMPT)
    result = on_gpu(lambda: lens.logit_lens(model, analysis))
    _cpu_numpy(result.final_ids)


def test_quantize_is_cpu_only():
    pytest.skip("quantize_dynamic_int8 is CPU-only: torch's dynamic int8 quantization has CPU kernels only, so "
                "it quantizes a CPU copy whatever LLM_LENS_DEVICE says")
