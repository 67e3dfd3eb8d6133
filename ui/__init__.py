"""Streamlit glue shared by pages: the caching layer and the common widgets."""
