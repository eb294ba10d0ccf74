"""LwM2M paths: parsing, formatting, tree order and navigation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.model import ROOT, Path, PathError
from lwm2m.model.path import MAX_DEPTH, MAX_ID

id_tuples = st.lists(st.integers(0, MAX_ID), max_size=MAX_DEPTH).map(tuple)
paths = id_tuples.map(Path)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("/", ()),
        ("/3", (3,)),
        ("/3/0", (3, 0)),
        ("/3/0/11", (3, 0, 11)),
        ("/3/0/11/2", (3, 0, 11, 2)),
        ("/0/0/0/0", (0, 0, 0, 0)),
        ("/65535/65535/65535/65535", (MAX_ID,) * 4),
    ],
)
def test_parse_and_format(text: str, ids: tuple[int, ...]) -> None:
    path = Path.parse(text)
    assert path.ids == ids
    assert str(path) == text
    assert repr(path) == f"Path({text!r})"
    assert path == Path.of(*ids) == Path(ids)


@pytest.mark.parametrize("text", ["/3/0/", "//", "/3//0", "/3///"])
def test_empty_segments_are_refused(text: str) -> None:
    with pytest.raises(PathError):
        Path.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3/0",
        " /3",
        "/3 ",
        "/03",  # leading zeros
        "/3/00",
        "/3/0/011",
        "/-1",
        "/+1",
        "/3//0",
        "/3/a",
        "/3/0x1",
        "/3/1.0",
        "/\u0663",  # ARABIC-INDIC DIGIT THREE: a digit, but not an ASCII one
        "/\u00b3",  # SUPERSCRIPT THREE
        "/3/0/11/2/1",  # more than /o/i/r/ri
        "/65536",  # IDs are 16 bits
        "/3/0/11/99999",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(PathError):
        Path.parse(text)


@pytest.mark.parametrize("ids", [(1, 2, 3, 4, 5), (MAX_ID + 1,), (3, -1), (0, 0, 0, MAX_ID + 1)])
def test_construction_refuses(ids: tuple[int, ...]) -> None:
    with pytest.raises(PathError):
        Path(ids)
    with pytest.raises(PathError):
        Path.of(*ids)


def test_path_error_is_a_value_error() -> None:
    assert issubclass(PathError, ValueError)


@given(paths)
def test_parse_inverts_str(path: Path) -> None:
    assert Path.parse(str(path)) == path
    assert Path.from_segments(path.segments) == path
    assert Path.from_segments(list(path.segments)) == path


@given(st.lists(id_tuples, max_size=8))
def test_order_is_tree_order(id_lists: list[tuple[int, ...]]) -> None:
    """Tuple order: a parent sorts before its children, siblings by ID (not by text)."""
    assert [p.ids for p in sorted(map(Path, id_lists))] == sorted(id_lists)


def test_order_examples() -> None:
    order = ["/", "/2", "/3", "/3/0", "/3/0/2", "/3/0/11", "/3/0/11/0", "/3/1", "/10", "/3353"]
    shuffled = [Path.parse(text) for text in reversed(order)]
    assert [str(p) for p in sorted(shuffled)] == order
    assert Path.parse("/3/0") < Path.parse("/3/0/0") < Path.parse("/3/1")


def test_levels() -> None:
    ri = Path.parse("/3/0/11/2")
    assert (ri.object_id, ri.instance_id, ri.resource_id, ri.resource_instance_id) == (3, 0, 11, 2)
    assert [ROOT.is_root, ROOT.is_object, ROOT.depth] == [True, False, 0]
    assert ROOT.object_id is None
    levels = [ri.parent.parent.parent, ri.parent.parent, ri.parent, ri]
    assert [p.depth for p in levels] == [1, 2, 3, 4]
    assert [p.is_object for p in levels] == [True, False, False, False]
    assert [p.is_instance for p in levels] == [False, True, False, False]
    assert [p.is_resource for p in levels] == [False, False, True, False]
    assert [p.is_resource_instance for p in levels] == [False, False, False, True]
    assert not any(p.is_root for p in levels)
    assert levels[1].resource_id is None
    assert levels[2].resource_instance_id is None
    assert ri.segments == ("3", "0", "11", "2")
    assert ROOT.segments == ()
    assert Path.from_segments([]) == ROOT == Path.parse("/") == Path()


def test_parent_and_child() -> None:
    path = Path.parse("/3/0/11")
    assert path.parent == Path.parse("/3/0")
    assert path.parent.parent.parent == ROOT
    assert path.child(2) == Path.parse("/3/0/11/2")
    assert ROOT.child(3) == Path.of(3)
    with pytest.raises(PathError):
        _ = ROOT.parent
    with pytest.raises(PathError):
        path.child(2).child(0)
    with pytest.raises(PathError):
        path.child(MAX_ID + 1)


@given(paths, st.integers(0, MAX_ID))
def test_child_parent_roundtrip(path: Path, node_id: int) -> None:
    if path.depth < MAX_DEPTH:
        child = path.child(node_id)
        assert child.parent == path
        assert child.startswith(path)
        assert not path.startswith(child)
        assert path < child


def test_startswith() -> None:
    path = Path.parse("/3/0/11")
    assert path.startswith(ROOT)
    assert path.startswith(Path.of(3))
    assert path.startswith(Path.of(3, 0))
    assert path.startswith(path)
    assert not path.startswith(Path.of(3, 1))
    assert not path.startswith(Path.of(3, 0, 11, 0))
    assert not Path.parse("/30/0").startswith(Path.of(3))  # not a string prefix test
    assert not Path.parse("/3/0/110").startswith(path)


def test_paths_are_hashable_values() -> None:
    assert {Path.parse("/3/0"), Path.of(3, 0)} == {Path((3, 0))}
    with pytest.raises(AttributeError):
        Path.of(3).ids = (4,)  # type: ignore[misc]
