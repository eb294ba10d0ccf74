"""The one rule every client state machine follows, so each module is only its table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

S = TypeVar("S")
T = TypeVar("T")
A = TypeVar("A")


def step(table: Mapping[tuple[S, T], tuple[S, A]], state: S, trigger: T) -> tuple[S, A | None]:
    """The state after ``trigger`` and the action to carry out; a pair missing from the table
    leaves the state as it is and asks for nothing."""
    transition = table.get((state, trigger))
    return (state, None) if transition is None else transition
