"""GraphQL over HTTP: media types, content negotiation, request parsing and status codes.

Implements the GraphQL-over-HTTP draft specification
(https://graphql.github.io/graphql-over-http/draft/, "the spec" below) for what
Strawberry leaves to the application: the ``application/graphql-response+json``
media type, its status codes, and a strict reading of requests. Comments cite
the spec's sections by title. ``GraphQLApp`` (services/api/app.py) wires these
into Strawberry's view; execution itself stays Strawberry's.

Status codes, by the media type chosen from ``Accept``:

| situation                                               | graphql-response+json | application/json |
|---------------------------------------------------------|-----------------------|------------------|
| executed: data, possibly null, possibly field errors    | 200                   | 200              |
| request error: parse, validation, operation cannot be   | 400, no ``data``      | 200, no ``data`` |
|   determined, variable coercion                         |                       |                  |
| unexpected failure outside the resolvers (masked)       | 500, no ``data``      | 200, no ``data`` |
| a dependency down, anywhere (``SERVICE_UNAVAILABLE``)   | 503, ``Retry-After``  | same             |
| a string that is not valid Unicode or over 100,000      | 400                   | 400              |
|   characters, ``NaN``/``Infinity`` in the JSON          |                       |                  |
| malformed request: body, parameters, no query           | 400                   | 400              |
| mutation over GET                                       | 405, ``Allow: POST``  | same             |
| method other than GET and POST                          | 405, ``Allow: GET, POST`` | same         |
| ``Accept`` allows none of the two media types           | 406 (body in application/json)           |
| POST body not ``application/json`` in UTF-8             | 415                   | 415              |

HTTP-level refusals (400, 405, 406, 415) carry ``{"errors": [{"message", "extensions": {"code", "requestId"}}]}``
like the edge middleware's. Every response says ``Vary: Accept``.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, OperationDefinitionNode, parse
from starlette.datastructures import QueryParams
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from services.api.errors import UNAVAILABLE, localize, masked
from services.core.faults import RETRY_AFTER_S
from services.core.i18n import N_, msg
from services.core.logs import failures, request_id_var

logger = logging.getLogger("complaintdesk.api.errors")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# Server preference when the client weighs both equally ("Media Types": the former is "the preferred
# type for server responses", the latter is there "to support legacy clients").
RESPONSE_MEDIA_TYPES = (GRAPHQL_RESPONSE_JSON, JSON)

_UTF8 = ("utf-8", "utf8")
_PARAMETERS = ("query", "operationName", "variables", "extensions")
# The longest string a request may carry in its variables (characters), whatever the field: the core's per-field
# lengths are far below it; this bounds what reaches a parser, a hash or a log line before they apply.
MAX_STRING_CHARS = 100_000
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class HTTPError(HTTPException):
    """A request refused at the HTTP level, answered with a GraphQL-shaped error body."""

    def __init__(self, status_code: int, message: str, code: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code, message)
        self.code = code
        self.headers = dict(headers or {})


def bad_request(message: str) -> HTTPError:
    return HTTPError(400, message, "BAD_REQUEST")


# --- Accept -------------------------------------------------------------------------------------------------------


def _media_range(item: str) -> tuple[str, dict[str, str]]:
    media, *raw_params = item.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, sep, value = raw.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), params


def _quality(params: dict[str, str]) -> float:
    try:
        q = float(params.get("q", "1"))
    except ValueError:
        return 0.0
    return q if 0.0 <= q <= 1.0 else 0.0


@functools.lru_cache(maxsize=256)  # a client sends the same Accept on every request; a refusal (406) is not kept
def negotiate_response_type(accept: str | None) -> str:
    """The response media type for an ``Accept`` header; raises 406 when it allows none of ours.

    Spec, "Body": "If an Accept header is provided, the server MUST respect the given Accept header and attempt to
    encode the response in the highest priority media type listed that is supported by the server", and when none
    is supported, respond "406 Not Acceptable ... and stop processing the request (RECOMMENDED)". Priority is the
    q-value of the most specific matching range (RFC 9110 §12.5.1); a tie goes to our preference order.
    Spec, "Body" > "Legacy watershed": "From 1st January 2025 ..., if the client does not supply an Accept header,
    the server SHOULD treat the GraphQL-over-HTTP request as if it had Accept: application/graphql-response+json."
    """
    if accept is None or not accept.strip():
        return GRAPHQL_RESPONSE_JSON
    ranges = [_media_range(item) for item in accept.split(",") if item.strip()]
    best: tuple[float, str] | None = None
    for media_type in RESPONSE_MEDIA_TYPES:
        main = media_type.split("/")[0]
        matches: list[tuple[int, float]] = []
        for media, params in ranges:
            if params.get("charset", "utf-8").lower() not in _UTF8:
                continue  # we only write UTF-8 ("Media Types": utf-8 is assumed when no charset is given)
            specificity = {media_type: 2, f"{main}/*": 1, "*/*": 0}.get(media)
            if specificity is not None:
                matches.append((specificity, _quality(params)))
        if not matches:
            continue
        top = max(s for s, _ in matches)
        q = max(q for s, q in matches if s == top)
        if q > 0 and (best is None or q > best[0]):
            best = (q, media_type)
    if best is None:
        raise HTTPError(
            406,
            msg("none of the requested media types is available; accept {one} or {other}",
                one=GRAPHQL_RESPONSE_JSON, other=JSON),
            "NOT_ACCEPTABLE",
        )
    return best[1]


# --- Request ------------------------------------------------------------------------------------------------------


def check_content_type(content_type: str | None) -> None:
    """POST bodies must be JSON in UTF-8.

    Spec, "POST": "A server MUST support POST requests encoded with the application/json media type ... encoded
    with UTF-8", and "If the client does not supply a Content-Type header with a POST request, the server SHOULD
    reject the request using the appropriate 4xx status code." We support no other media type (multipart and
    form encodings are "simple requests" that skip the CORS preflight: spec, "Non-Normative Notes" > "Security").
    """
    if not content_type or not content_type.strip():
        raise HTTPError(415, msg("a POST request needs the header Content-Type: {type}", type=JSON),
                        "UNSUPPORTED_MEDIA_TYPE")
    media, params = _media_range(content_type)
    if media != JSON:
        raise HTTPError(415, msg("unsupported Content-Type {given!r}; send {type}", given=media, type=JSON),
                        "UNSUPPORTED_MEDIA_TYPE")
    if params.get("charset", "utf-8").lower() not in _UTF8:
        raise HTTPError(415, N_("the request body must be encoded in UTF-8"), "UNSUPPORTED_MEDIA_TYPE")


def parse_json_body(body: bytes) -> GraphQLRequestData:
    """A POST body: one JSON object with the request parameters (spec, "POST" > "JSON Encoding")."""
    try:
        data = _loads(body.decode("utf-8"))
    except _NotJSON as exc:
        raise bad_request(msg("the request body is not valid JSON: {why}", why=str(exc))) from exc
    except UnicodeDecodeError as exc:
        raise bad_request(N_("the request body is not valid UTF-8")) from exc
    except json.JSONDecodeError as exc:
        raise bad_request(msg("the request body is not valid JSON: {why} at position {position}", why=exc.msg,
                              position=exc.pos)) from exc
    except RecursionError as exc:
        raise bad_request(N_("the request body is nested too deeply")) from exc
    if isinstance(data, list):
        raise bad_request(N_("batched requests (a JSON array) are not supported; send one operation per request"))
    if not isinstance(data, dict):
        raise bad_request(N_("the request body must be a JSON object with a 'query' string"))
    return _request_data(data)


def parse_query_params(params: QueryParams) -> GraphQLRequestData:
    """A GET request's parameters, URL-encoded; variables and extensions JSON-encoded (spec, "GET")."""
    data: dict[str, Any] = {}
    for name in _PARAMETERS:
        values = params.getlist(name)
        if len(values) > 1:
            raise bad_request(msg("the parameter {name!r} is given more than once", name=name))
        if values:
            data[name] = values[0]
    # "Setting the value of the {operationName} parameter to the empty string is equivalent to omitting" it.
    if data.get("operationName") == "":
        del data["operationName"]
    for name in ("variables", "extensions"):
        raw = data.get(name)
        if raw is None:
            continue
        if raw == "":  # like an absent parameter, as Strawberry has always read it
            del data[name]
            continue
        try:
            data[name] = _loads(raw)
        except _NotJSON as exc:
            raise bad_request(msg("the {name!r} parameter is not valid JSON: {why}", name=name, why=str(exc))) from exc
        except json.JSONDecodeError as exc:
            raise bad_request(msg("the {name!r} parameter is not valid JSON: {why} at position {position}",
                                      name=name, why=exc.msg, position=exc.pos)) from exc
        except RecursionError as exc:
            raise bad_request(msg("the {name!r} parameter is nested too deeply", name=name)) from exc
    return _request_data(data)


class _NotJSON(ValueError):
    pass


def _no_constant(name: str) -> Any:
    """Python's json module reads ``NaN``, ``Infinity`` and ``-Infinity``, which JSON (RFC 8259) does not have."""
    raise _NotJSON(f"{name} is not a JSON number")


# json.loads with an option builds a decoder per call; one, kept, reads every body and parameter alike
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _loads(text: str) -> Any:
    """``json.loads(text, parse_constant=_no_constant)``."""
    if text.startswith("\ufeff"):  # as json.loads
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def check_strings(value: Any, where: str) -> None:
    """Every string in a request parameter is valid Unicode and at most ``MAX_STRING_CHARS`` long.

    JSON's ``"\\ud800"`` escape decodes to a lone surrogate, which no UTF-8 encoder accepts: not PostgreSQL's
    driver, not the response's (an error message quoting the value), not a hash. Refused here, once, for every
    field (inline literals with such an escape are syntax errors of the GraphQL parser already). The message
    names where the string is, never the value.
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_STRING_CHARS:
                raise bad_request(msg("{path} is longer than {limit} characters", path=path, limit=MAX_STRING_CHARS))
            if _SURROGATE.search(item):
                raise bad_request(msg("{path} is not valid Unicode (it contains a lone surrogate)", path=path))
        elif isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    raise bad_request(msg("a key in {path} is not valid Unicode (it contains a lone surrogate)",
                                          path=path))
                stack.append((child, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(item))


def _request_data(data: dict[str, Any]) -> GraphQLRequestData:
    """Check the parameters' types (spec, "Request Parameters": a request with parameters "of the wrong type, or
    that omits required parameters, is not a well-formed GraphQL-over-HTTP request"; null means absent)."""
    query = data.get("query")
    extensions = data.get("extensions")
    persisted = isinstance(extensions, dict) and extensions.get("persistedQuery") is not None
    if query is None and not persisted:  # a persisted query's hash stands for it (services/api/documents.py)
        raise bad_request(N_("no GraphQL query found in the request: send a 'query' string"))
    if query is not None and not isinstance(query, str):
        raise bad_request(N_("the 'query' parameter must be a string"))
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise bad_request(N_("the 'operationName' parameter must be a string or null"))
    for name in ("variables", "extensions"):
        value = data.get(name)
        if value is not None and not isinstance(value, dict):
            raise bad_request(msg("the {name!r} parameter must be an object or null", name=name))
    # the document's length is the body's limit and the token limit's affair
    if query is not None and _SURROGATE.search(query):
        raise bad_request(N_("the query is not valid Unicode (it contains a lone surrogate)"))
    if operation_name is not None:
        check_strings(operation_name, "operationName")
    for name in ("variables", "extensions"):
        check_strings(data.get(name), name)
    return GraphQLRequestData(
        query=query,
        variables=data.get("variables"),
        operation_name=operation_name,
        extensions=data.get("extensions"),
    )


def operation_request_error(request_data: GraphQLRequestData, *, max_tokens: int) -> GraphQLError | None:
    """A GraphQL request error Strawberry would miss, raised before anything executes.

    - An empty ``query`` is still a well-formed request (spec, "Request Parameters": "So long as it is a string,
      {query} does not have to parse"), but Strawberry reports it as a missing query: report the parse error.
    - Without ``operationName``, Strawberry executes the first of several operations where GraphQL's
      GetOperation() raises a request error ("Must provide operation name ...").
    """
    query = request_data.query
    if query is None:
        return None
    if query == "":
        try:
            parse(query)
        except GraphQLError as error:
            return error
    if request_data.operation_name is not None:
        return None
    # Every operation but a lone anonymous one starts with its keyword, so fewer than two keywords means at most
    # one operation (an anonymous one among others fails validation); only then is the document parsed here.
    if sum(query.count(keyword) for keyword in ("query", "mutation", "subscription")) < 2:
        return None
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)  # the schema's limit: no bigger parse
    except GraphQLError:
        return None  # Strawberry parses it again and reports the error through its extensions
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) > 1:
        return GraphQLError("Must provide operation name if query contains multiple operations.")
    return None


# --- Response -----------------------------------------------------------------------------------------------------


class Outcome(enum.Enum):
    EXECUTED = "executed"  # execution started: the response has "data" (possibly null) and maybe field errors
    REQUEST_ERROR = "request_error"  # refused before execution; the response has no "data"
    INTERNAL_ERROR = "internal_error"  # an unexpected failure before or around execution, outside any field


def _is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def classify(result: ExecutionResult) -> Outcome:
    """Field errors always carry a path; request errors (parse, validation, operation, variables) never do.

    Strawberry turns an exception raised outside the resolvers (an extension's hook, say) into a path-less error
    on a PreExecutionError, unmasked (MaskErrors runs inside the operation it escaped from): that is ours, not the
    client's.
    """
    if result.data is not None or not result.errors:
        return Outcome.EXECUTED
    if any(error.path is not None for error in result.errors):
        return Outcome.EXECUTED  # a field error reached the root: data is null, execution happened
    if isinstance(result, PreExecutionError) and any(_is_unexpected(error) for error in result.errors):
        return Outcome.INTERNAL_ERROR
    return Outcome.REQUEST_ERROR


def status_code(outcome: Outcome, media_type: str) -> int:
    """Spec, "Status Codes". With application/graphql-response+json: data present (even null) -> 2xx, SHOULD 200;
    no data -> "MUST reply with a 4xx or 5xx status code as appropriate", 400 for parse, validation, operation and
    variable coercion failures. With application/json (legacy; "Status Codes" > "application/json", moved to
    "Appendix A: application/json responses" in later drafts, same rules): "The server SHOULD use the 200 status
    code for every response to a well-formed GraphQL-over-HTTP request, independent of any GraphQL request error or
    GraphQL field error raised."
    """
    if outcome is Outcome.EXECUTED or media_type == JSON:
        return 200
    return 400 if outcome is Outcome.REQUEST_ERROR else 500


def internal_error(original: BaseException | None = None) -> dict[str, Any]:
    message, code = masked(original)
    extensions: dict[str, Any] = {"code": code}
    request_id = request_id_var.get()
    if request_id:
        extensions["requestId"] = request_id
    return {"message": message, "extensions": extensions}


def log_unexpected(result: ExecutionResult) -> None:
    for error in result.errors or ():
        if _is_unexpected(error) and error.original_error is not None:
            failures.report(logger, error.original_error, "(outside the resolvers)")


def unavailable(body: GraphQLHTTPResponse) -> bool:
    """Some error of the response says a dependency is down: the answer is then 503 with ``Retry-After``."""
    return any(isinstance(error, dict) and (error.get("extensions") or {}).get("code") == UNAVAILABLE
               for error in body.get("errors") or ())


RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_S)}


def shape_result(result: ExecutionResult, outcome: Outcome) -> GraphQLHTTPResponse:
    """The GraphQL response body. GraphQL spec, "Response" > "Data": "If an error was raised before execution
    begins, the data entry should not be present in the result" (Strawberry always writes ``"data": null``)."""
    body = process_result(result)
    if outcome is not Outcome.EXECUTED:
        body.pop("data", None)
    if outcome is Outcome.INTERNAL_ERROR:
        originals = [e.original_error for e in result.errors or () if _is_unexpected(e)]
        body["errors"] = [internal_error(originals[0] if originals else None)]
    return body


def error_body(message: str, code: str, locale: str | None = None) -> dict[str, Any]:
    """A GraphQL-shaped body for a request refused at the HTTP level (like the edge middleware's errors), its
    message in ``locale`` (a marked text; the code is the same in every language)."""
    extensions: dict[str, Any] = {"code": code}
    request_id = request_id_var.get()
    if request_id:
        extensions["requestId"] = request_id
    return {"errors": [{"message": localize(message, locale) if locale else str(message), "extensions": extensions}]}


def content_type_header(media_type: str) -> str:
    # Spec, "Body": "A server MUST indicate the media type of the response with a Content-Type header, and SHOULD
    # indicate the encoding (e.g. application/graphql-response+json; charset=utf-8)."
    return f"{media_type}; charset=utf-8"
