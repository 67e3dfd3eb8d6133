"""The one way into a shared model: the gate, devices, hooks, lanes and the process-wide settings."""
