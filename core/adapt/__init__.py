"""Adapt the model: steer it (activation addition) and fine-tune it live (LoRA) beside the shared model."""
