"""frontend-schema/operations/: what the SPA sends, one file per screen or action, checked against the exported SDL.

Pure: no database and no server. Each operation file is validated the way a client sends it (the file plus the
shared fragments it uses) against frontend-schema/schema.graphql, within the server's depth, alias and token
limits; the set of files must cover every screen, and the public ones must not ask for internal fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import pytest
from graphql import (
    DefinitionNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    build_schema,
    parse,
    print_ast,
    validate,
)
from helpers import ROOT
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from services.api.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS

SDL = ROOT / "frontend-schema" / "schema.graphql"
OPERATIONS = ROOT / "frontend-schema" / "operations"
FRAGMENTS_FILE = OPERATIONS / "fragments.graphql"

# The root fields each screen folder must use: a screen or step missing from the folder fails the coverage test.
SCREENS: dict[str, set[str]] = {
    "inbox": {"complaints"},
    "detail": {"complaint"},
    "steps": {
        "recordComplaint", "resolveOnTheSpot", "startInvestigation", "submitInvestigation", "attachEvidence",
        "assignResponsibleDepartment", "proposeSolution", "approveHandlingForm", "rejectHandlingForm",
        "sendCustomerMessage", "recordCustomerOpinion", "completeImplementation", "recordFollowUp",
        "reopenComplaint", "withdrawComplaint", "markLitigation", "transferOwnership", "escalateComplaint",
        "routeComplaint", "startExternalAppraisal", "endExternalAppraisal", "proposeResponsibility",
        "decideResponsibility", "confirmRepeat", "markComplaintAttention", "approveMajorComplaintReport",
        "updateComplaintContact",
    },
    "admin": {
        "orgUnits", "users", "roles", "categories", "createOrgUnit", "createUser", "assignRole", "upsertCategory",
        "auditVerification", "me", "identityProviders", "upsertIdentityProvider", "externalBodies",
        "upsertExternalBody", "outboxItems", "retryOutboxItems", "escalationSettings", "updateEscalationSettings",
        "importCalendarYear", "accountabilitySettings", "updateAccountabilitySettings",
        "messageTemplates", "updateMessageTemplate", "updateComplaintProcedure", "updateTenantLocale",
    },
    "accountability": {
        "penalties", "penaltyNotices", "proposePenalty", "decidePenalty", "reviewPlans", "createReviewPlan",
        "recordReviewFinding", "addImprovementAction", "opinionBookEntries", "recordOpinionBookEntry",
        "reconcileOpinionBookEntry", "majorComplaints",
    },
    "notifications": {"notifications", "markNotificationRead"},
    "reports": {"reports", "report", "generateReport", "setReportCadence", "exportComplaints", "exportOrgUnits",
                "exportUsers", "importOrgUnits", "importUsers", "dataTransfer"},
    "signin": {"login", "refreshToken", "logout", "setPassword", "redeemPasswordToken", "signInProviders",
               "signInWithOidc"},
    "public": {
        "submitComplaint", "trackComplaint", "complaintProcedure", "submitCustomerOpinion",
        "submitSatisfactionSurvey", "tenantInfo",
    },
}
# What the public (no sign-in) files may call, and what they must never select, at any depth.
PUBLIC_ROOT_FIELDS = SCREENS["public"]
PUBLIC_FORBIDDEN_FIELDS = {"handlingForm", "complainant", "customerOpinions", "history"}


def operation_files() -> list[Path]:
    return sorted(p for p in OPERATIONS.rglob("*.graphql") if p != FRAGMENTS_FILE)


FILES = operation_files()


def rel(path: Path) -> str:
    return path.relative_to(OPERATIONS).as_posix()


def folder(path: Path) -> str:
    return path.relative_to(OPERATIONS).parts[0]


@cache
def schema() -> GraphQLSchema:
    return build_schema(SDL.read_text(encoding="utf-8"))


@cache
def parsed(path: Path) -> DocumentNode:
    return parse(path.read_text(encoding="utf-8"))


def fragments_of(definitions: Iterable[DefinitionNode]) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}


def shared_fragments() -> dict[str, FragmentDefinitionNode]:
    return fragments_of(parsed(FRAGMENTS_FILE).definitions)


def operations_of(path: Path) -> list[OperationDefinitionNode]:
    return [d for d in parsed(path).definitions if isinstance(d, OperationDefinitionNode)]


def all_fragments(path: Path) -> dict[str, FragmentDefinitionNode]:
    return {**shared_fragments(), **fragments_of(parsed(path).definitions)}


def spreads(selection_set: SelectionSetNode | None) -> Iterator[str]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FragmentSpreadNode):
            yield selection.name.value
        elif isinstance(selection, (FieldNode, InlineFragmentNode)):
            yield from spreads(selection.selection_set)


def document_for(path: Path) -> DocumentNode:
    """The file as a client sends it: its own definitions plus the shared fragments they use, transitively."""
    own = list(parsed(path).definitions)
    local = fragments_of(own)
    shared = shared_fragments()
    needed: list[str] = []
    pending = [name for d in own for name in spreads(d.selection_set)]  # type: ignore[attr-defined]
    while pending:
        name = pending.pop()
        if name in local or name in needed or name not in shared:
            continue  # unknown names are left to validation (KnownFragmentNamesRule)
        needed.append(name)
        pending.extend(spreads(shared[name].selection_set))
    return DocumentNode(definitions=(*own, *(shared[n] for n in sorted(needed))))


def selected_fields(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], prefix: str = ""
) -> set[str]:
    """Dotted paths of every field selected (by field name, not alias), fragment spreads expanded."""
    paths: set[str] = set()
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            path = f"{prefix}{selection.name.value}"
            paths.add(path)
            paths |= selected_fields(selection.selection_set, fragments, f"{path}.")
        elif isinstance(selection, InlineFragmentNode):
            paths |= selected_fields(selection.selection_set, fragments, prefix)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            paths |= selected_fields(fragments[selection.name.value].selection_set, fragments, prefix)
    return paths


def root_fields(operation: OperationDefinitionNode) -> list[FieldNode]:
    return [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]


def literals(value: ValueNode) -> Iterator[ValueNode]:
    yield value
    if isinstance(value, ListValueNode):
        for item in value.values:
            yield from literals(item)
    elif isinstance(value, ObjectValueNode):
        for field in value.fields:
            yield from literals(field.value)


def arguments(selection_set: SelectionSetNode | None) -> Iterator[tuple[str, str, ValueNode]]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            for argument in selection.arguments or ():
                yield selection.name.value, argument.name.value, argument.value
        if isinstance(selection, (FieldNode, InlineFragmentNode)):
            yield from arguments(selection.selection_set)


# --- the files ---------------------------------------------------------------------------------------------------


def test_operations_are_organised_by_screen() -> None:
    top_level = sorted(p.name for p in OPERATIONS.glob("*.graphql"))
    assert top_level == ["fragments.graphql"], "only fragments.graphql lives at the top; operations go in a folder"
    assert {folder(p) for p in FILES} == set(SCREENS), "one folder per screen group: " + ", ".join(SCREENS)
    for screen in SCREENS:
        assert any(folder(p) == screen for p in FILES), f"no operations in {screen}/"


def test_fragments_file_holds_only_fragments() -> None:
    definitions = parsed(FRAGMENTS_FILE).definitions
    assert definitions, "fragments.graphql is empty"
    others = [d for d in definitions if not isinstance(d, FragmentDefinitionNode)]
    assert not others, "fragments.graphql must hold fragments only"


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_operation_file_validates_against_the_schema(path: Path) -> None:
    errors = validate(schema(), document_for(path))
    assert not errors, f"{rel(path)}:\n" + "\n".join(f"  {e.message} {e.locations}" for e in errors)


def test_all_operations_and_fragments_validate_together() -> None:
    """One document of everything: catches duplicate fragment names and fragments no operation uses."""
    definitions = [d for p in (FRAGMENTS_FILE, *FILES) for d in parsed(p).definitions]
    errors = validate(schema(), DocumentNode(definitions=tuple(definitions)))
    assert not errors, "\n".join(e.message for e in errors)


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_operation_file_fits_the_server_limits(path: Path) -> None:
    """The server refuses deeper, more aliased or longer documents (services/api/schema.py)."""
    text = print_ast(document_for(path))
    document = parse(text, max_tokens=MAX_TOKENS)  # raises past the token limit, as the server's parse does
    rules = [depth_validator(MAX_DEPTH, None), aliases_validator(MAX_ALIASES)]
    errors = validate(schema(), document, rules=rules)
    assert not errors, f"{rel(path)}: " + "; ".join(e.message for e in errors)


# --- operations --------------------------------------------------------------------------------------------------


def test_one_named_operation_per_file_named_after_it() -> None:
    problems = []
    for path in FILES:
        operations = operations_of(path)
        if len(operations) != 1:
            problems.append(f"{rel(path)}: {len(operations)} operations (one per screen or action)")
            continue
        name = operations[0].name.value if operations[0].name else None
        expected = path.stem[:1].upper() + path.stem[1:]
        if name != expected:
            problems.append(f"{rel(path)}: operation {name or '(anonymous)'}, expected {expected}")
    assert not problems, "\n".join(problems)


def test_operation_names_are_unique_across_files() -> None:
    seen: dict[str, str] = {}
    duplicates = []
    for path in FILES:
        for operation in operations_of(path):
            assert operation.name is not None, f"{rel(path)}: anonymous operation"
            name = operation.name.value
            if name in seen:
                duplicates.append(f"{name}: {seen[name]} and {rel(path)}")
            seen[name] = rel(path)
    assert not duplicates, "\n".join(duplicates)


def test_operations_cover_every_screen() -> None:
    missing = {}
    for screen, expected in SCREENS.items():
        used = {
            field.name.value
            for path in FILES if folder(path) == screen
            for operation in operations_of(path)
            for field in root_fields(operation)
        }
        if expected - used:
            missing[screen] = sorted(expected - used)
    assert not missing, f"root fields with no operation: {missing}"


def test_step_files_are_mutations_and_the_detail_and_inbox_files_queries() -> None:
    for path in FILES:
        kinds = {o.operation for o in operations_of(path)}
        if folder(path) == "steps":
            assert kinds == {OperationType.MUTATION}, rel(path)
        elif folder(path) in ("inbox", "detail"):
            assert kinds == {OperationType.QUERY}, rel(path)


def test_user_input_is_passed_in_variables() -> None:
    """Root fields take variables only, and no string, list or object literal appears anywhere."""
    problems = []
    for path in FILES:
        for operation in operations_of(path):
            for field in root_fields(operation):
                for argument in field.arguments or ():
                    if not isinstance(argument.value, VariableNode):
                        problems.append(f"{rel(path)}: {field.name.value}({argument.name.value}:) is a literal")
    for path in (FRAGMENTS_FILE, *FILES):
        for definition in parsed(path).definitions:
            for field_name, name, value in arguments(definition.selection_set):  # type: ignore[attr-defined]
                if any(isinstance(v, (StringValueNode, ListValueNode, ObjectValueNode)) for v in literals(value)):
                    problems.append(f"{rel(path)}: {field_name}({name}:) has an inline literal")
    assert not problems, "\n".join(problems)


def test_every_mutation_returns_user_errors() -> None:
    problems = []
    for path in FILES:
        for operation in operations_of(path):
            if operation.operation != OperationType.MUTATION:
                continue
            for field in root_fields(operation):
                paths = selected_fields(field.selection_set, all_fragments(path))
                if not {"userErrors.field", "userErrors.message", "userErrors.code"} <= paths:
                    problems.append(f"{rel(path)}: {field.name.value} lacks userErrors {{ field message code }}")
    assert not problems, "\n".join(problems)


def test_steps_return_what_the_detail_screen_shows() -> None:
    """After a step the detail screen refreshes from the payload alone (history pages separately)."""
    detail = OPERATIONS / "detail" / "complaintDetail.graphql"
    [operation] = operations_of(detail)
    [complaint] = root_fields(operation)
    shown = {p for p in selected_fields(complaint.selection_set, all_fragments(detail)) if p.split(".")[0] != "history"}
    assert {"investigation.evidence.sha256", "handlingForm.status", "customerMessages.body"} <= shown
    problems = []
    for path in FILES:
        if folder(path) != "steps":
            continue
        for step in operations_of(path):
            for field in root_fields(step):
                returned = selected_fields(field.selection_set, all_fragments(path))
                lacking = sorted(p for p in shown if f"complaint.{p}" not in returned)
                if lacking:
                    problems.append(f"{rel(path)}: complaint lacks {', '.join(lacking[:8])}")
    assert not problems, "\n".join(problems)


def test_detail_pages_the_history() -> None:
    detail = OPERATIONS / "detail" / "complaintDetail.graphql"
    [operation] = operations_of(detail)
    [complaint] = root_fields(operation)
    assert complaint.selection_set is not None
    history = [s for s in complaint.selection_set.selections if isinstance(s, FieldNode) and s.name.value == "history"]
    assert history, "the detail screen selects history(first:, after:)"
    assert {a.name.value for a in history[0].arguments or ()} == {"first", "after"}
    paths = selected_fields(complaint.selection_set, all_fragments(detail))
    assert {"history.totalCount", "history.pageInfo.endCursor", "history.edges.node.seq"} <= paths


# --- public operations -------------------------------------------------------------------------------------------


def test_public_operations_call_only_public_fields() -> None:
    problems = []
    for path in FILES:
        if folder(path) != "public":
            continue
        for operation in operations_of(path):
            for field in root_fields(operation):
                if field.name.value not in PUBLIC_ROOT_FIELDS:
                    problems.append(f"{rel(path)}: {field.name.value} needs a signed-in user")
    assert not problems, "\n".join(problems)


def test_public_operations_never_select_internal_fields() -> None:
    problems = []
    for path in FILES:
        if folder(path) != "public":
            continue
        for operation in operations_of(path):
            paths = selected_fields(operation.selection_set, all_fragments(path))
            leaked = sorted(p for p in paths if set(p.split(".")) & PUBLIC_FORBIDDEN_FIELDS)
            if leaked:
                problems.append(f"{rel(path)}: selects {', '.join(leaked)}")
    assert not problems, "\n".join(problems)


def test_the_public_check_sees_through_fragments() -> None:
    """The check above expands fragment spreads: an internal field behind a fragment is still caught."""
    document = parse(
        "query Q { trackComplaint(number: $n, accessCode: $c) { ...T } }"
        " fragment T on Complaint { h: handlingForm { status } }"
    )
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    paths = selected_fields(operation.selection_set, fragments_of(document.definitions))
    assert "trackComplaint.handlingForm.status" in paths
