"""RNN vs Transformer: a small RNN, a GRU and one attention layer on your sentence, gradients computed live."""

import streamlit as st

from core.rnn_compare import HIDDEN_RANGE, MAX_RNN_TOKENS
from ui import present, widgets
from ui.caching import model_pages_cache
from ui.widgets import model_key
from viz.model_pages import gradient_decay_chart

st.title("🔁 RNN vs Transformer")
present.explain(
    "Before 2017, language models were **recurrent**: they read one token at a time, carrying a hidden state "
    "forward. Below, a small `nn.RNN`, an `nn.GRU` and one **self-attention** layer (all with seeded random "
    "weights) read your sentence, and autograd measures how much of the last output's gradient reaches each token."
)
model = widgets.current_model()
text = widgets.prompt_input("Sentence")
cols = st.columns(3)
embedding = cols[0].radio("Token vectors", ["model", "random"], key="rnn_embedding", horizontal=True,
                          format_func={"model": "the model's embeddings", "random": "seeded random"}.get)
hidden = cols[1].slider("Hidden size", *HIDDEN_RANGE, 32, key="rnn_hidden")
seed = cols[2].number_input("Seed", 0, 10_000, 0, key="rnn_seed")
widgets.limits_caption(f"{MAX_RNN_TOKENS} tokens (the RNN steps once per token and backpropagation runs "
                       "back through every step)")
result = widgets.computed_or_stop(
    "Running the networks and backpropagating…",
    model_pages_cache.get_rnn_comparison, model_key(), text, embedding, int(hidden), int(seed),
)

st.dataframe(result.table(), hide_index=True, key="rnn_table")
gradients = {"RNN (tanh)": result.rnn_gradient, "GRU": result.gru_gradient, "Self-attention": result.attention_gradient}
st.plotly_chart(present.styled(gradient_decay_chart(result.labels, gradients)), key="rnn_gradient_chart")
st.latex(r"\text{RNN: } h_t = \tanh(W_{ih} x_t + W_{hh} h_{t-1}) \quad\Rightarrow\quad "
         r"\frac{\partial h_n}{\partial x_1} = \Big(\prod_{t=2}^{n} \frac{\partial h_t}{\partial h_{t-1}}\Big)"
         r"\frac{\partial h_1}{\partial x_1}")
st.latex(r"\text{Attention: } y_n = \sum_{i=1}^{n} \operatorname{softmax}_i\Big(\frac{q_n \cdot k_i}{\sqrt{d}}\Big)"
         r"\, v_i \quad\Rightarrow\quad x_1 \text{ is one step from } y_n")
st.markdown(
    f"- **Sequential steps.** The RNN needed {result.rnn_steps} cell updates, each waiting for the previous "
    "hidden state. Attention computed all positions in one matrix product, so training runs every position of "
    "every sequence in parallel on a GPU.\n"
    f"- **Path length.** Information from the first token passes through {result.rnn_path} recurrent steps to "
    "reach the last one; in attention the last query reads the first key directly (path 1).\n"
    "- **Vanishing gradient.** Each recurrent step multiplies the gradient by a Jacobian with norm usually below "
    "1, so it shrinks exponentially with distance (the straight falling line on the log scale). The GRU's gates "
    "slow the decay but do not remove it. Through attention, every token gets a comparable share.\n\n"
    "This is the argument of *Attention Is All You Need* (2017): drop recurrence, let every token attend to "
    "every other token, and train on whole sequences at once. The cost moves elsewhere: attention compares all "
    "pairs, n² work per layer, which is why context windows are finite."
)
st.caption("Token vectors are scaled to unit length so every model's embedding scale looks alike; all weights are "
           "drawn from a seeded generator (PyTorch's default ranges); the readout is a fixed random direction.")
