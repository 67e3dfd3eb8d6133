"""LoRA fine-tuning beside the shared model: the split, the label-only loss, training, export, the queue."""

from __future__ import annotations

import hashlib
import threading

import pytest
import tiny_models
import torch

import core
from core import memory
from core.adapt import data, export, lora
from core.adapt.queue import TrainingQueue
from core.anatomy import anatomy, default_lora_targets
from core.prompting import build_prompt, label_scoring
from core.runtime import hooks

ROWS = [(f"great film number {i}", "positive") for i in range(6)] + \
       [(f"boring film number {i}", "negative") for i in range(6)]
FAST = lora.LoraSettings(epochs=12, batch_size=4, learning_rate=5e-2)


def _fingerprint(net: torch.nn.Module) -> dict[str, str]:
    return {name: hashlib.sha256(p.detach().numpy().tobytes()).hexdigest() for name, p in net.named_parameters()}


def _logits(net: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return net(input_ids=ids).logits.float()


def test_split_is_stratified_and_holds_out_before_training():
    split = data.split_rows(ROWS, 0.34, seed=3)
    assert not set(split.train) & set(split.heldout)
    assert set(split.train) | set(split.heldout) == set(ROWS)
    assert {label for _, label in split.heldout} == {"positive", "negative"} == {label for _, label in split.train}
    assert split == data.split_rows(ROWS, 0.34, seed=3)


@pytest.mark.parametrize("rows, message", [
    ([], "empty"),
    ([("a", "x"), ("b", "x"), ("c", "x")], "at least 2 labels"),
    ([("a", "x"), ("b", "x"), ("c", "y")], "has one row"),
    ([(f"t{i}", f"l{i}") for i in range(data.MAX_LABELS + 1)], f"limit is {data.MAX_LABELS}"),
    ([("a", ""), ("b", "x")], "needs both"),
])
def test_bad_sets_say_why(rows, message):
    with pytest.raises(ValueError, match=message):
        data.split_rows(rows)


def test_loss_is_on_the_label_tokens_only(tiny_llama):
    encoded = data.encode_rows(tiny_llama.tokenizer, "Classify.", ROWS[:3])
    batch = data.make_batch(encoded, tiny_llama.tokenizer.pad_token_id)
    for row, (context, label) in enumerate(encoded):
        kept = batch.targets[row][batch.targets[row] != data.IGNORE].tolist()
        assert kept == label
        assert tiny_llama.tokenizer.decode(kept) == " " + ROWS[row][1]
        assert batch.ids[row, len(context) - 1] == context[-1]  # the prompt's last token predicts the label


@pytest.fixture(scope="module")
def trainable_llama(tmp_path_factory) -> core.LoadedModel:
    """A tiny Llama whose weights have std 0.3: at the usual 0.02 its tied embeddings leave the logits no room."""
    folder = tmp_path_factory.mktemp("trainable") / "tiny-llama"
    return core.load_model(str(tiny_models.tiny_llama(folder, initializer_range=0.3)))


def test_loss_falls_on_a_memorisable_set(trainable_llama):
    settings = lora.LoraSettings(epochs=12, batch_size=4, learning_rate=5e-2)  # q_proj and v_proj, rank 8
    run = lora.LoraRun(trainable_llama, data.split_rows(ROWS, 0.34), "Classify.", settings)
    progress = run.run()
    assert progress.step == progress.steps == len(run.batches)
    assert progress.train_loss[-1] < 0.5 * progress.train_loss[0]
    assert len(progress.heldout_loss) == settings.epochs
    prompts = [build_prompt("Classify.", [], text) for text, _ in run.split.train]
    for model, wanted in ((trainable_llama, False), (lora.adapted(trainable_llama, run.peft_model), True)):
        scores = label_scoring.score_labels(model, "", prompts, ["positive", "negative"])
        right = [("positive", "negative")[int(i)] == label
                 for i, (_, label) in zip(scores.logprob.argmax(1), run.split.train)]
        assert all(right) is wanted  # the base model gets some wrong; the adapted one ranks every label first


def test_training_leaves_the_shared_model_untouched(tiny_llama):
    before = _fingerprint(tiny_llama.model)
    modules = [type(m) for m in tiny_llama.model.modules()]
    reference = core.analyze(tiny_llama, "The capital of France is")
    during: list = []
    started, analysed = threading.Event(), threading.Event()

    def on_step(progress):
        if progress.step == 2:
            started.set()
            assert analysed.wait(60)

    run = lora.LoraRun(tiny_llama, data.split_rows(ROWS, 0.34), "Classify.", FAST)
    worker = threading.Thread(target=run.run, kwargs={"on_step": on_step})
    worker.start()
    assert started.wait(60)
    during.append(core.analyze(tiny_llama, "The capital of France is"))
    analysed.set()
    worker.join(60)
    assert run.progress.step == run.progress.steps
    assert _fingerprint(tiny_llama.model) == before
    assert [type(m) for m in tiny_llama.model.modules()] == modules  # no LoRA layer injected
    assert not any("lora" in name for name, _ in tiny_llama.model.named_modules())
    assert not any(p.requires_grad for p in tiny_llama.model.parameters())
    assert hooks.hooks_left(tiny_llama) == 0
    for name in ("attention", "hidden_states", "next_token_logits"):
        assert (getattr(during[0], name) == getattr(reference, name)).all()


def test_copy_shares_the_weights_and_the_gate(tiny_llama):
    twin = lora.structural_copy(tiny_llama)
    shared = {id(p) for p in tiny_llama.model.parameters()}
    assert all(id(p) in shared for p in twin.parameters())
    assert twin is not tiny_llama.model
    assert core.runtime.gate.gate_key(lora.adapted(tiny_llama, lora.attach_lora(tiny_llama, FAST))) == \
        core.runtime.gate.gate_key(tiny_llama)


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_trainable_count_equals_the_lifecycle_calculator(fixture, request):
    model = request.getfixturevalue(fixture)
    matrices = anatomy(model).matrices
    targets = default_lora_targets(matrices)
    chosen = matrices[matrices["matrix"].isin(targets)]
    for rank in (1, 4):
        peft_model = lora.attach_lora(model, lora.LoraSettings(rank=rank, targets=tuple(targets)))
        shapes = list(chosen[["d_in", "d_out", "count"]].itertuples(index=False, name=None))
        assert lora.trainable_parameters(peft_model) == memory.lora_parameters(shapes, rank)


def test_export_round_trip_equals_peft(tiny_llama, tiny_llama_path):
    run = lora.LoraRun(tiny_llama, data.split_rows(ROWS, 0.34), "Classify.",
                       lora.LoraSettings(epochs=2, batch_size=4, learning_rate=5e-2))
    run.run()
    archive = export.adapter_zip(tiny_llama, run.peft_model)
    from peft import PeftModel

    fresh = core.load_model(str(tiny_llama_path))  # an independent base, as a user would load it
    import io
    import tempfile
    import zipfile
    with tempfile.TemporaryDirectory() as folder:
        zipfile.ZipFile(io.BytesIO(archive)).extractall(folder)
        loaded = PeftModel.from_pretrained(fresh.model, folder)
        ids = torch.tensor([tiny_llama.tokenizer("Text: great film\nLabel:")["input_ids"]])
        expected = _logits(run.net, ids)
        assert torch.allclose(_logits(loaded, ids), expected, atol=1e-5)
    assert torch.allclose(_logits(export.load_adapter_zip(tiny_llama, archive), ids), expected, atol=1e-5)
    assert not torch.allclose(_logits(tiny_llama.model, ids), expected, atol=1e-5)  # training changed something


def test_bad_adapter_zip_says_why(tiny_llama):
    with pytest.raises(ValueError, match="not a zip"):
        export.load_adapter_zip(tiny_llama, b"hello")


def test_same_seed_same_adapter(tiny_llama):
    def adapter(seed: int) -> dict:
        run = lora.LoraRun(tiny_llama, data.split_rows(ROWS, 0.34), "Classify.",
                           lora.LoraSettings(epochs=2, batch_size=4, learning_rate=5e-2, seed=seed))
        run.run()
        return {k: v.clone() for k, v in run.peft_model.state_dict().items() if "lora_" in k}

    first, again, other = adapter(1), adapter(1), adapter(2)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_a_diverging_loss_stops_discards_and_says_why(tiny_llama, monkeypatch):
    # The tiny model's bounded logits never overflow, so the loss turns NaN on purpose at step 3 (the
    # slow test checks that learning rate 10 does diverge on SmolLM2).
    run = lora.LoraRun(tiny_llama, data.split_rows(ROWS, 0.34), "Classify.",
                       lora.LoraSettings(epochs=4, batch_size=4, learning_rate=10.0))
    real = lora.label_loss
    monkeypatch.setattr(lora, "label_loss", lambda net, batch: real(net, batch) * (
        float("nan") if len(run.progress.train_loss) == 2 else 1.0))
    with pytest.raises(lora.TrainingDiverged, match="became nan at step 3 of 8, not a number .*learning rate 10 is"):
        run.run()
    assert run.peft_model is None and not run.optimizer.state


def test_a_loss_worse_than_a_uniform_guess_is_divergence(tiny_llama, monkeypatch):
    run = lora.LoraRun(tiny_llama, data.split_rows(ROWS, 0.34), "Classify.", FAST)
    real = lora.label_loss
    monkeypatch.setattr(lora, "label_loss", lambda net, batch: real(net, batch) * (
        4.0 if len(run.progress.train_loss) == 4 else 1.0))  # ln(400) = 6.0 < 4 × the loss
    with pytest.raises(lora.TrainingDiverged, match="at step 5 of .*worse than a uniform guess .*\\(6.0\\)"):
        run.run()
    assert len(run.progress.train_loss) == 4 and run.peft_model is None


def test_stop_keeps_the_steps_done(tiny_llama):
    run = lora.LoraRun(tiny_llama, data.split_rows(ROWS, 0.34), "Classify.", FAST)
    progress = run.run(should_stop=lambda: len(run.progress.train_loss) >= 3)
    assert progress.stopped and progress.step == 3 < progress.steps


def test_encoder_and_bad_settings_are_refused(tiny_bert, tiny_llama):
    with pytest.raises(ValueError, match="encoder"):
        lora.attach_lora(tiny_bert, lora.LoraSettings())
    with pytest.raises(ValueError, match=f"between 1 and {lora.MAX_RANK}"):
        lora.LoraSettings(rank=lora.MAX_RANK + 1).check()
    with pytest.raises(ValueError, match="limit is"):
        lora.LoraRun(tiny_llama, data.split_rows(ROWS, 0.34), "Classify.",
                     lora.LoraSettings(epochs=lora.MAX_STEPS, batch_size=1))


def test_queue_admits_in_order():
    queue = TrainingQueue(1)
    places: list[int] = []
    inside, release = threading.Event(), threading.Event()

    def first():
        with queue.turn() as admitted:
            assert admitted
            inside.set()
            release.wait(30)

    worker = threading.Thread(target=first)
    worker.start()
    assert inside.wait(30)

    def report(ahead: int) -> None:
        places.append(ahead)
        release.set()

    with queue.turn(report=report) as admitted:
        assert admitted
    worker.join(30)
    assert places == [1]
    assert queue.waiting() == 0
    with queue.turn(), TrainingQueue(1).turn(should_stop=lambda: True) as admitted:
        assert admitted  # an empty queue admits at once, even a run that would stop


def test_a_stopped_wait_leaves_the_queue():
    queue = TrainingQueue(1)
    with queue.turn(), queue.turn(should_stop=lambda: True) as admitted:
        assert not admitted
    assert queue.waiting() == 0
