"""The fast executor answers exactly as graphql-core's own execution: data, errors, their paths, null propagation."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry

from services.api.execution import FastExecutor


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Leaf(Named):  # an interface: Strawberry checks the values' class (is_type_of)
    count: int | None
    colour: Colour


@strawberry.type
class Plain:  # no interface: no is_type_of at all
    name: str

    @strawberry.field
    async def later_name(self) -> str:  # an object completed inline whose own fields are awaited (and fail)
        if self.name == "p":  # the second Plain of a list: completed inline
            raise ValueError("not later")
        return f"later {self.name}"


@strawberry.type
class Other(Named):  # what a Leaf can be cast to: is_type_of then refuses it as a Leaf
    name: str


class LeafChild(Leaf):  # a Python subclass: not exactly the type's class, still accepted by isinstance
    pass


@strawberry.type
class Holder:
    id: strawberry.ID
    leaf: Leaf | None
    required: Leaf
    leaves: list[Leaf]
    maybe_leaves: list[Leaf | None] | None
    plain: Plain | None = None
    cast: Leaf | None = None

    @strawberry.field
    def computed(self) -> str:
        return f"computed {self.id}"

    @strawberry.field
    async def later(self) -> Leaf | None:
        return self.leaf


class _Broken:
    """Attributes a type does not accept: the general path must report them as it always has."""

    @property
    def name(self) -> str:
        raise RuntimeError("no name here")

    count = "not a number"
    colour = "green"


def _holders() -> list[Any]:
    good = Leaf(name="a", count=1, colour=Colour.RED)
    none_count = Leaf(name="b", count=None, colour=Colour.BLUE)
    holders: list[Any] = [
        Holder(id=strawberry.ID("1"), leaf=good, required=good, leaves=[good, none_count], maybe_leaves=None,
               plain=Plain(name="q")),
        Holder(id=strawberry.ID("2"), leaf=None, required=none_count, leaves=[], maybe_leaves=[None, good],
               plain=Plain(name="p")),
    ]
    broken = Holder(id=strawberry.ID("3"), leaf=_Broken(), required=good,  # type: ignore[arg-type]
                    leaves=[good], maybe_leaves=[_Broken(), good])  # type: ignore[list-item]
    nulled = Holder(id=strawberry.ID("4"), leaf=good, required=None, leaves=[good],  # type: ignore[arg-type]
                    maybe_leaves=[good])
    wrong = Holder(id=strawberry.ID("5"), leaf=Leaf(name=None, count=2, colour=Colour.RED),  # type: ignore[arg-type]
                   required=good, leaves=[Leaf(name="x", count=3, colour="red")],  # type: ignore[arg-type]
                   maybe_leaves=None, plain=_Broken())  # type: ignore[arg-type]
    cast = Holder(id=strawberry.ID("6"), leaf=LeafChild(name="child", count=4, colour=Colour.BLUE), required=good,
                  leaves=[good, LeafChild(name="child", count=6, colour=Colour.RED),
                          strawberry.cast(Leaf, Leaf(name="self", count=7, colour=Colour.RED))],
                  maybe_leaves=[strawberry.cast(Other, Leaf(name="other", count=5, colour=Colour.RED)), good],
                  cast=strawberry.cast(Other, Leaf(name="other", count=8, colour=Colour.BLUE)))
    return [*holders, broken, nulled, wrong, cast]


@strawberry.type
class Query:
    @strawberry.field
    def holders(self) -> list[Holder | None]:
        return _holders()

    @strawberry.field
    def strict(self) -> list[Holder]:
        return _holders()[:2]


QUERIES = [
    "{ holders { id computed leaf { name count colour } required { name } leaves { name count colour }"
    " maybe: maybeLeaves { name } later { name colour } plain { name } } }",
    "{ strict { id leaf { name } leaves { ... on Leaf { n: name c: count } } } }",
    "{ holders { __typename id leaf { __typename name @include(if: false) count @skip(if: false) } } }",
    "{ holders { required { name colour } } }",
    "{ holders { id leaf { name count } leaves { name colour } maybeLeaves { name count } cast { name } } }",
    "{ holders { id plain { name laterName } leaf { name } } strict { plain { laterName } required { name } } }",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_same_answer_as_graphql_core(query: str) -> None:
    plain = strawberry.Schema(query=Query)
    fast = strawberry.Schema(query=Query, execution_context_class=FastExecutor)
    expected = await plain.execute(query)
    got = await fast.execute(query)
    assert got.data == expected.data
    assert sorted((e.message, tuple(e.path or ())) for e in got.errors or []) == sorted(
        (e.message, tuple(e.path or ())) for e in expected.errors or []
    )
    assert expected.data is not None  # every query here answers data (some with errors beside): nothing vacuous
