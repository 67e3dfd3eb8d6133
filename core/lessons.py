"""Lesson presets: curated prompts that show one concept on the bundled model, each with a note for the instructor."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LESSONS_FILE = Path(__file__).resolve().parents[1] / "data" / "lessons.json"


@dataclass(frozen=True)
class Lesson:
    """One preset: a prompt (or a Prompt strategies task) for some pages, and one sentence for the instructor."""

    id: str
    title: str
    pages: tuple[str, ...]  # page url paths, e.g. "attention"
    note: str
    prompt: str | None = None
    task: str | None = None  # a core.prompting.PRESETS name, for the Prompt strategies page


@cache
def load_lessons(path: Path = LESSONS_FILE) -> tuple[Lesson, ...]:
    """Every lesson in the data file; ValueError naming the entry that lacks a prompt or a task."""
    lessons = []
    for entry in json.loads(path.read_text(encoding="utf-8")):
        lesson = Lesson(entry["id"], entry["title"], tuple(entry["pages"]), entry["note"],
                        entry.get("prompt"), entry.get("task"))
        if (lesson.prompt is None) == (lesson.task is None):
            raise ValueError(f"Lesson {lesson.id!r} needs exactly one of 'prompt' and 'task'.")
        lessons.append(lesson)
    return tuple(lessons)


def lessons_for(page: str) -> tuple[Lesson, ...]:
    """The lessons offered on one page, in file order."""
    return tuple(lesson for lesson in load_lessons() if page in lesson.pages)


def lesson_by_title(title: str) -> Lesson:
    """The lesson with this title; ValueError when there is none."""
    for lesson in load_lessons():
        if lesson.title == title:
            return lesson
    raise ValueError(f"No lesson is called {title!r}.")
