"""Home: what LLM Lens is, what each page teaches, and the loaded model's card."""

import streamlit as st

from ui import present, widgets

st.title("🔎 LLM Lens")
present.explain(
    "See how a large language model works from the inside, on a real transformer, offline. "
    "Type a prompt once; it follows you to every page."
)
model = widgets.current_model()
widgets.model_card(model.info)
st.subheader("What each page teaches")
st.markdown(
    "\n".join(
        [
            "- **Tokens**: how your text becomes token ids, and what fits in the context window.",
            "- **Embeddings**: the vector each token becomes, and how context moves it layer by layer.",
            "- **Attention**: every layer and head's attention map (self-attention, multi-head).",
            "- **Generation**: next-word prediction, and how greedy, temperature, top-k and top-p choose.",
            "- **Why this token?**: which prompt words, layers and heads made the model pick its next token, "
            "and what breaks when a head is switched off.",
            "- **Prompt strategies**: zero-, one- and few-shot prompts side by side, then scored.",
            "- **Adapt the model**: steer it and fine-tune it live with LoRA, scored against prompting.",
            "- **RNN vs Transformer**: why attention replaced recurrence, computed live.",
            "- **Model size**: parameters by component and the memory a model needs.",
            "- **Lifecycle**: from picking a model to fine-tuning and deploying it, measured.",
            "- **Deploy**: KV cache, prefill vs decode, batching and weight formats, measured on this model.",
        ]
    )
)
widgets.prompt_input()
