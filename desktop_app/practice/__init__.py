"""The Practice tab: a student reads labelled slices first, then sees the truth and the model."""

from desktop_app.practice.tab import QtPracticeTab

__all__ = ["QtPracticeTab"]
