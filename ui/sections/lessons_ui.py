"""The "Lesson preset" picker: fills the prompt (or the Prompt strategies task) with a curated example."""

from __future__ import annotations

import streamlit as st

from core.lessons import Lesson, lesson_by_title, lessons_for

NONE = "— none —"


def picker(page: str) -> None:
    """A selectbox of this page's lessons; the chosen one's note for the instructor shows below it."""
    lessons = lessons_for(page)
    if not lessons:
        return
    key = f"lesson_{page}"
    choice = st.selectbox(
        "Lesson preset", [NONE, *(lesson.title for lesson in lessons)], key=key, on_change=_apply, args=(key,),
        help="Curated examples that show one idea on the bundled model. Choosing one replaces the prompt.",
    )
    if choice != NONE and _still_shown(lesson := lesson_by_title(choice)):
        st.caption(f"🎓 {lesson.note}")


def _still_shown(lesson: Lesson) -> bool:
    if lesson.prompt is not None:
        return st.session_state.get("prompt") == lesson.prompt
    return st.session_state.get("pr_preset") == lesson.task


def _apply(key: str) -> None:
    title = st.session_state[key]
    if title == NONE:
        return
    lesson = lesson_by_title(title)
    if lesson.prompt is not None:
        st.session_state["prompt"] = lesson.prompt
        if "adapt" in lesson.pages:
            st.session_state["ad_steer_prompt"] = lesson.prompt  # the Adapt page's Steer tab completes it
    if lesson.task is not None:
        st.session_state["pr_preset"] = lesson.task
        st.session_state["ad_data"] = lesson.task  # the Adapt page's Fine-tune data
        st.session_state.pop("pr_base", None)  # the task editor starts afresh (ui.sections.prompting_ui)
