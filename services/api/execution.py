"""graphql-core's execution with a short path for plain attribute fields.

graphql-core runs every field the same way: a ``Path``, a ``GraphQLResolveInfo`` (Strawberry's, with ten
fields), the resolver (for a field without one, Strawberry's ``_get_basic_result`` calling ``getattr``),
then ``complete_value`` dispatching on the return type. A page of 50 complaints is some 650 such fields,
nearly all of them plain attributes of objects already in memory.

``FastExecutor.execute_fields`` completes those fields directly when that cannot change the answer:

* a leaf (scalar or enum) field without a resolver, arguments or field extensions: ``getattr`` and the
  type's ``serialize``; null where the type allows it;
* an object field of the same kind whose value its type accepts (Strawberry's ``is_type_of``, which reads
  no resolve info): its sub-selection is executed as graphql-core would, without building the info.

Anything else (a resolver, arguments, a list, an abstract type, a missing attribute, a null in a non-null
field, a value the scalar refuses, an awaitable, an extension with a ``resolve`` hook) takes graphql-core's
own ``execute_field``, which resolves the attribute again and reports errors exactly as before. Field
errors, paths, masking and the validation rules (depth, aliases, tokens) are unchanged: they do not run per
field, or run in the general path this falls back to.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from types import CoroutineType, GeneratorType
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    Undefined,
)
from graphql.pyutils import AwaitableOrValue, Path
from graphql.type.scalars import serialize_boolean, serialize_id, serialize_string
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE
from strawberry.types.field import StrawberryField

from services.api import deference

_DEFINITION = "strawberry-definition"
_MISSING = object()
_LEAF, _OBJECT = 0, 1

# (kind, attribute, field type, non_null, serialize (leaf) or object type, the object type's is_type_of,
#  exact: a leaf's Python type that its serialize returns as it is (str for String and ID, bool for Boolean), or an
#  object type's class (Strawberry's is_type_of accepts an instance of exactly that class that was not cast))
_Plan = tuple[int, str, GraphQLOutputType, bool, Any, Any, type | None]

# graphql-core's serializers that return a value of this exact type unchanged (the first check each makes)
_IDENTITY: dict[Any, type] = {serialize_string: str, serialize_id: str, serialize_boolean: bool}

_plans: dict[int, dict[str, _Plan | None]] = {}  # id(GraphQLObjectType) -> field name -> plan (the schema is static)


def _field_plan(field: GraphQLField) -> _Plan | None:
    definition = field.extensions.get(_DEFINITION)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field or field.args:
        return None
    # Strawberry's resolver for a field without one (no extensions, no exception handlers): getattr
    if not getattr(field.resolve, "_is_default", False) or definition.default_resolver is not getattr:
        return None
    field_type: GraphQLOutputType = field.type
    non_null = isinstance(field_type, GraphQLNonNull)
    named = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    if isinstance(named, CustomGraphQLEnumType):
        return (_LEAF, definition.python_name, field_type, non_null, _enum_serializer(named), None, None)
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return (_LEAF, definition.python_name, field_type, non_null, named.serialize, None,
                _IDENTITY.get(named.serialize))
    if isinstance(named, GraphQLObjectType):
        accepted = _object_plan(named)
        if accepted is None:
            return None
        return (_OBJECT, definition.python_name, field_type, non_null, named, *accepted)
    return None


def _object_plan(named: GraphQLObjectType) -> tuple[Any, type | None] | None:
    """An object type's ``is_type_of`` and the class whose plain instances it accepts, or None when the type's own
    ``is_type_of`` may read the resolve info (the general path then)."""
    object_definition = named.extensions.get(_DEFINITION)
    if not isinstance(object_definition, StrawberryObjectDefinition) or object_definition.is_type_of:
        return None
    # Strawberry's is_type_of (the strawberry.cast check, then isinstance) ignores the resolve info; an instance of
    # exactly the type's class with no cast on it passes it (a class with a cast of its own never takes this)
    origin = object_definition.origin
    exact = (origin if isinstance(origin, type) and not hasattr(origin, TYPE_CAST_ATTRIBUTE) and _plain_class(origin)
             else None)
    return named.is_type_of, exact


# id(list item type) -> (that type, its plan: (object type, its class) or None)
_item_plans: dict[int, tuple[GraphQLOutputType, tuple[GraphQLObjectType, type] | None]] = {}


def _list_item_plan(item_type: GraphQLOutputType) -> tuple[GraphQLObjectType, type] | None:
    named = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
    if not isinstance(named, GraphQLObjectType):
        return None
    accepted = _object_plan(named)
    if accepted is None or accepted[1] is None:
        return None
    return named, accepted[1]


def _enum_serializer(enum_type: CustomGraphQLEnumType) -> Callable[[Any], Any]:
    """Strawberry's enum ``serialize`` (the name of the first value equal to the member's; anything else as
    graphql-core serializes it), with the names of the members looked up instead of searched for."""
    wrapped, serialize = enum_type.wrapped_cls, enum_type.serialize
    names: dict[Any, str] = {}
    member: Any
    for member in wrapped:
        for name, value in enum_type.values.items():
            if member.value == value.value:
                names[member] = name
                break

    def serialize_member(value: Any) -> Any:
        if type(value) is wrapped:
            name = names.get(value)
            if name is not None:
                return name
        return serialize(value)

    return serialize_member


def _plans_for(parent_type: GraphQLObjectType) -> dict[str, _Plan | None]:
    plans = _plans.get(id(parent_type))
    if plans is None:
        plans = {name: _field_plan(field) for name, field in parent_type.fields.items()}
        _plans[id(parent_type)] = plans
    return plans


def _plain_class(cls: type) -> bool:
    """Instances are neither awaitable nor exceptions (what graphql-core checks a resolved value for), by class:
    ``await`` itself only looks at the class's ``__await__``."""
    plain = _plain_classes.get(cls)
    if plain is None:
        plain = not (issubclass(cls, BaseException | CoroutineType | GeneratorType) or hasattr(cls, "__await__"))
        _plain_classes[cls] = plain
    return plain


_plain_classes: dict[type, bool] = {}
_CAST = TYPE_CAST_ATTRIBUTE
_COROUTINE = CoroutineType  # what _execute_entries and _complete_object return when their answer is awaitable
_new_tuple = tuple.__new__  # Path(prev, key, typename) without its NamedTuple __new__ frame
_Entry = tuple[str, Any, _Plan | None]  # response name, field details, plan


class FastExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, completing plain attribute fields without the per-field machinery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # per selection (graphql-core collects a sub-selection once per request and reuses the same dict for every
        # object of a list): its fields with their plans; the selection is kept so that its id stays its own
        self._entries: dict[tuple[int, int], tuple[Any, list[_Entry]]] = {}
        # per object field (its field details list, the same for every object of a list): the object type and its
        # sub-selection's entries, so that each object after the first skips collect_subfields and the look-ups
        self._subselections: dict[int, tuple[Any, GraphQLObjectType, list[_Entry]]] = {}
        manager = self.middleware_manager
        self._plain = manager is None or not manager.middlewares  # middlewares wrap resolvers: the general path
        # graphql-core's helpers are bound methods of this context, which holds them: a reference cycle that left
        # each request's whole execution (results, context, session) to the garbage collector instead of
        # reference counting, ~200 objects a request (bench/README.md, noisy tenant, 2026-12-07). Through a weak
        # proxy the context is freed when its request ends.
        me = weakref.proxy(self)
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=lambda values: me.gather_async_work(values), track=lambda values: me.track_async_work(values))

    def execute_operation(self, serially: bool | None = None) -> Any:
        if deference.deferring():  # a deferential request: variables coerced; the operation runs in another slice
            return self._execute_after_checkpoint(serially)
        return super().execute_operation(serially)

    async def _execute_after_checkpoint(self, serially: bool | None) -> Any:
        await deference.checkpoint()
        result = super().execute_operation(serially)
        return await result if self.is_awaitable(result) else result

    def _entries_for(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[_Entry]:
        key = (id(parent_type), id(grouped_field_set))
        found = self._entries.get(key)
        if found is not None:
            return found[1]
        plans = _plans_for(parent_type)
        entries: list[_Entry] = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            entries.append((response_name, field_details_list,
                            plans.get(node.name.value) if not node.arguments else None))
        self._entries[key] = (grouped_field_set, entries)
        return entries

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        if not self._plain:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        found = self._entries.get((id(parent_type), id(grouped_field_set)))
        entries = found[1] if found is not None else self._entries_for(parent_type, grouped_field_set)
        return self._execute_entries(parent_type, source_value, path, entries, position_context)

    def _execute_entries(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        entries: list[_Entry],
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """``execute_fields`` over a selection's entries (``_entries_for``)."""
        is_awaitable = self.is_awaitable
        plain_classes = _plain_classes
        subselections = self._subselections
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, plan in entries:
                if plan is not None:
                    kind, attribute, field_type, non_null, target, is_type_of, exact = plan
                    try:
                        value = getattr(source_value, attribute, _MISSING)
                    except Exception:  # a property that raises: the general path reports it
                        value = _MISSING
                    if value is None:
                        if not non_null:
                            results[response_name] = None
                            continue
                    elif type(value) is exact and (kind == _LEAF or getattr(value, _CAST, None) is None):
                        if kind == _LEAF:  # a str of a String or ID, a bool of a Boolean: serialized as it is
                            results[response_name] = value
                            continue
                        # an instance of exactly the object type's class, not cast: is_type_of would say yes
                        field_path = _new_tuple(Path, (path, response_name, parent_type.name))
                        sub = subselections.get(id(field_details_list))
                        if (sub is not None and position_context is None and sub[0] is field_details_list
                                and sub[1] is target):  # _complete_object's first branch, inline (once per object)
                            try:
                                completed = self._execute_entries(target, value, field_path, sub[2], None)
                            except Exception as raw_error:
                                self.handle_field_error(raw_error, field_type, field_details_list, field_path)
                                completed = None
                            else:
                                if type(completed) is _COROUTINE:  # its own awaitable fields, gathered
                                    completed = self._await_object(completed, field_type, field_details_list,
                                                                   field_path)
                        else:
                            completed = self._complete_object(target, field_type, field_details_list, field_path,
                                                              value, position_context)
                        results[response_name] = completed
                        if type(completed) is _COROUTINE:
                            awaitable_fields.append(response_name)
                        continue
                    elif value is not _MISSING and (plain_classes.get(type(value)) or _plain_class(type(value))):
                        if kind == _LEAF:
                            try:
                                serialized = target(value)
                            except Exception:  # the general path reports it
                                serialized = None
                            if serialized is not None and serialized is not Undefined:
                                results[response_name] = serialized
                                continue
                        elif is_type_of is None or is_type_of(value, None) is True:
                            field_path = Path(path, response_name, parent_type.name)
                            completed = self._complete_object(target, field_type, field_details_list, field_path,
                                                              value, position_context)
                            results[response_name] = completed
                            if type(completed) is _COROUTINE:
                                awaitable_fields.append(response_name)
                            continue
                result = self.execute_field(
                    parent_type, source_value, field_details_list, Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self._gather_results(results, awaitable_fields)

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        item_path: Path,
        position_context: Any,
    ) -> bool:
        """An item of a list of objects (a page's edges) that is an instance of exactly the item type's class:
        completed as ``complete_value`` would (``_complete_object``, the same error handling), without its
        dispatch on the type and the ``is_type_of`` call; anything else as graphql-core completes it."""
        found = _item_plans.get(id(item_type))
        if found is None or found[0] is not item_type:
            found = _item_plans[id(item_type)] = (item_type, _list_item_plan(item_type))
        item_plan = found[1]
        if item_plan is not None and type(item) is item_plan[1] and getattr(item, _CAST, None) is None and self._plain:
            completed = self._complete_object(item_plan[0], item_type, field_details_list, item_path, item,
                                              position_context)
            complete_results.append(completed)
            return type(completed) is _COROUTINE
        return super().complete_list_item_value(item, complete_results, item_type, field_details_list, info,
                                                item_path, position_context)

    async def _gather_results(self, results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
        if len(awaitable_fields) == 1:
            field = awaitable_fields[0]
            results[field] = await results[field]
        else:
            from graphql.pyutils import gather_with_cancel

            awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
            results.update(zip(awaitable_fields, awaited, strict=True))
        return results

    def _complete_object(
        self,
        return_type: GraphQLObjectType,
        field_type: GraphQLOutputType,
        field_details_list: Any,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """``execute_field`` after the resolver, for an object value its type accepts (``complete_object_value``
        without the ``is_type_of`` call it has just made), with the same error handling. Awaitable exactly when it
        is a coroutine (``_await_object``'s): its callers check the type instead of calling ``is_awaitable``, as they
        do for ``_execute_entries`` (a dict, or ``_gather_results``'s coroutine)."""
        try:
            sub = self._subselections.get(id(field_details_list))
            if (position_context is None and sub is not None and sub[0] is field_details_list
                    and sub[1] is return_type):
                completed = self._execute_entries(return_type, value, path, sub[2], None)
            else:
                grouped_field_set, new_defer_usages, _ = self.collect_subfields(return_type, field_details_list)
                if position_context is None and not new_defer_usages:  # what execute_collected_subfields does
                    if self._plain:
                        entries = self._entries_for(return_type, grouped_field_set)
                        self._subselections[id(field_details_list)] = (field_details_list, return_type, entries)
                        completed = self._execute_entries(return_type, value, path, entries, None)
                    else:
                        completed = self.execute_fields(return_type, value, path, grouped_field_set, None)
                else:
                    completed = self.execute_collected_subfields(
                        return_type, value, path, grouped_field_set, new_defer_usages, position_context
                    )
        except Exception as raw_error:
            self.handle_field_error(raw_error, field_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._await_object(completed, field_type, field_details_list, path)
        return completed

    async def _await_object(
        self, completed: Awaitable[Any], field_type: GraphQLOutputType, field_details_list: Any, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, field_type, field_details_list, path)
            return None
