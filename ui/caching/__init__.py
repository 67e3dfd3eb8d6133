"""The only modules where st.cache_* wraps core calls, keyed by plain values."""
