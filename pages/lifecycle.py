"""Placeholder while this page is being written in this session."""

import streamlit as st

st.info("This page is being built.")
