"""Model-facing layer of LLM Lens: loading, tokenizing, analysing and generating (no Streamlit)."""

from core.runtime import library_logs  # noqa: F401  (first: it quiets torchao before transformers imports it)

# isort: split
from core.analysis import Analysis, analyze
from core.generation import Completion, GenerationSettings, generate, stream_generate
from core.models import LoadedModel, ModelInfo, list_models, load_model
from core.tokens import Tokenization, tokenize

__all__ = [
    "Analysis",
    "Completion",
    "GenerationSettings",
    "LoadedModel",
    "ModelInfo",
    "Tokenization",
    "analyze",
    "generate",
    "list_models",
    "load_model",
    "stream_generate",
    "tokenize",
]
