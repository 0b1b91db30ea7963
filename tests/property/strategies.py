"""Hypothesis strategies that generate WHOLE handler events, hostile ones included.

Every field an event can carry is drawn either from its plausible values (so the handler gets deep
into each route: real emails, types, connection ids, minted tokens, JSON actions) or from any JSON
value: ``None``, booleans, huge integers, floats, hostile strings (NUL, lone surrogates, control
and bidi characters, 140,000-character runs), lists and objects. Message bodies include JSON
nested up to API Gateway's 128 KB message limit and base64 flags that lie about the body.

:func:`websocket_events` is the main corpus; :func:`any_events` adds direct invokes, EventBridge
and unknown shapes; :func:`socket_inputs` is what a real client can put on the wire (query
string, User-Agent, frames) for the ``wsctl local`` run.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from websocket_service.tokens import mint_token

TOKEN_SECRET = "property-test-token-secret-0123456789"
TYPES = ("email-verification", "general")
MAX_MESSAGE_BYTES = 131_072

HOSTILE_CHARS = ["\x00", "\ud800", "\udfff", "\udc80", "\x1b", "\x7f", "\u202e", "\u200b", "\ufeff", "\n",
                 "\r", "\t", "\u2028", "\uffff", "\U0010ffff", "é", "İ", "ß", "😀", "=", "+", "/", "%", "'",
                 '"', "\\", " ", "@", ".", "-", "[", "{"]
hostile_char = st.sampled_from(HOSTILE_CHARS)
short_text = st.one_of(
    st.text(st.sampled_from(HOSTILE_CHARS + list("abcXYZ019")), max_size=16),
    st.text(max_size=8),  # any code point hypothesis likes to try
)
huge_text = st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "\x00", "\ud800", "é", "[", "A="]),
                      st.integers(300, 140_000))
hostile_text = st.one_of(short_text, short_text, short_text, huge_text)

json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False), hostile_text,
)
any_json = st.one_of(json_scalar, json_scalar, json_scalar, st.lists(json_scalar, max_size=3),
                     st.dictionaries(short_text, json_scalar, max_size=3),
                     st.lists(st.dictionaries(short_text, json_scalar, max_size=2), max_size=2))
"""Any JSON value (two levels deep at most: deeper nesting is what message bodies test)."""

plausible_email = st.one_of(
    st.sampled_from(["a@example.com", "B@Example.COM", " c@example.com ", "d.e@sub.example.org",
                     "x@localhost", "no-at-sign", "two@@example.com", "a@b@example.com"]),
    st.builds(lambda local, tail: f"{local}@example.com{tail}",
              st.text(st.one_of(st.sampled_from("abcXYZ09._+-"), hostile_char), min_size=1, max_size=12),
              st.sampled_from(["", "", "\x00", "\ud800", " ", "."])),
)
connection_ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9+/=_-]{1,20}", fullmatch=True),
    st.sampled_from(["BFHPhfCWIAMCKlQ=", "abc=", "conn-1"]),
)


def field(plausible: st.SearchStrategy[Any], *, weight: int = 4) -> st.SearchStrategy[Any]:
    """Mostly ``plausible`` values, sometimes any JSON value at all."""
    return st.one_of(*([plausible] * weight), any_json)


def nested(depth: int, kind: str) -> str:
    """JSON nested ``depth`` levels deep: ``[[[...]]]`` or ``{"a":{"a":...}}`` (valid JSON)."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


deep_body = st.builds(nested, st.integers(1, MAX_MESSAGE_BYTES // 2), st.sampled_from(["list", "dict"])).filter(
    lambda body: len(body) <= MAX_MESSAGE_BYTES)
plain_body = st.one_of(
    st.sampled_from(['{"action":"ping"}', '{"action":"nope"}', '{"action":7}', "{}", "[]", "null", "", "  ",
                     '{"action":"ping","extra":[1,2,{"x":null}]}', "not json", '{"action":"ping"',
                     '{"action":"replay"}', '{"action":"replay","after":"000000000001"}',
                     '{"action":"replay","after":"000000000002"}', '{"action":"replay","after":7}']),
    st.builds(lambda value: json.dumps({"action": value}), any_json),
    st.builds(json.dumps, any_json),
    hostile_text,
)


@st.composite
def message_body(draw: st.DrawFn) -> tuple[Any, Any]:
    """(body, isBase64Encoded): honest or lying base64 flags, deep nesting, or any JSON value."""
    text = draw(st.one_of(plain_body, plain_body, deep_body))
    encoded = draw(st.booleans())
    if encoded and draw(st.booleans()):  # honest base64 of UTF-8 text (or of random bytes)
        raw = text.encode("utf-8", "surrogatepass") if draw(st.booleans()) else draw(st.binary(max_size=64))
        body: Any = base64.b64encode(raw).decode("ascii")
    else:
        body = text  # the flag may lie: plain text flagged as base64, or base64 flagged as text
    if draw(st.integers(0, 9)) == 0:
        body = draw(any_json)
    flag = draw(st.one_of(st.just(encoded), st.just(encoded), any_json))
    return body, flag


@st.composite
def query_parameters(draw: st.DrawFn) -> dict[str, Any]:
    """``queryStringParameters`` and ``multiValueQueryStringParameters`` (consistent or not),
    possibly with a valid token minted for the drawn email and type."""
    params: dict[str, Any] = {}
    email = draw(field(plausible_email))
    kind = draw(field(st.sampled_from([*TYPES, "other", " general ", ""])))
    if draw(st.integers(0, 9)):
        params["email"] = email
    if draw(st.integers(0, 9)):
        params["type"] = kind
    choice = draw(st.integers(0, 3))
    if choice == 0 and isinstance(email, str) and isinstance(kind, str) and email.strip():
        try:
            params["token"] = mint_token(TOKEN_SECRET, email, kind.strip())
        except (ValueError, UnicodeEncodeError):
            params["token"] = "v1.1.x"
    elif choice == 1:
        params["token"] = draw(field(st.sampled_from(["v1.0.x", "v1.01700000000." + "A" * 43, "", "v2.1.2"])))
    event: dict[str, Any] = {}
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return event  # no query string: the key is absent
    event["queryStringParameters"] = params if shape > 1 else draw(any_json)
    if draw(st.booleans()):
        multi = {k: [v] for k, v in params.items()}
        if multi and draw(st.integers(0, 4)) == 0:
            multi[next(iter(multi))].append(draw(field(plausible_email)))  # given twice
        event["multiValueQueryStringParameters"] = multi if draw(st.integers(0, 5)) else draw(any_json)
    return event


@st.composite
def websocket_events(draw: st.DrawFn) -> dict[str, Any]:
    """A whole API Gateway WebSocket event: $connect, $disconnect or a message, any field hostile."""
    event_type = draw(st.one_of(st.sampled_from(["CONNECT", "DISCONNECT", "MESSAGE"] * 6), any_json))
    route = {"CONNECT": "$connect", "DISCONNECT": "$disconnect", "MESSAGE": "$default"}.get(
        event_type if isinstance(event_type, str) else "", "$default")
    context: dict[str, Any] = {
        "routeKey": draw(field(st.just(route), weight=8)),
        "eventType": event_type,
        "connectionId": draw(field(connection_ids)),
        "requestId": draw(field(st.just("req=1"))),
        "stage": draw(field(st.sampled_from(["prod", "dev"]))),
        "domainName": draw(field(st.just("abc123.execute-api.us-east-1.amazonaws.com"))),
        "apiId": "abc123",
        "connectedAt": draw(field(st.just(1731324924553))),
        "identity": draw(field(st.builds(lambda ip, agent: {"sourceIp": ip, "userAgent": agent},
                                         field(st.just("203.0.113.9")), field(st.just("agent/1.0"))))),
    }
    if event_type == "DISCONNECT" or draw(st.integers(0, 9)) == 0:
        context["disconnectStatusCode"] = draw(field(st.sampled_from([1000, 1001, 1006, "1001", 2**40, -1, True])))
        context["disconnectReason"] = draw(field(st.sampled_from(["Client-side close frame status not set", ""])))
    if event_type == "MESSAGE" or draw(st.integers(0, 9)) == 0:
        context["messageId"] = draw(field(st.just("msg=1")))
    event: dict[str, Any] = {"requestContext": context if draw(st.integers(0, 30)) else draw(any_json)}
    if event_type == "CONNECT" or draw(st.integers(0, 9)) == 0:
        event.update(draw(query_parameters()))
        headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com",
                   "User-Agent": draw(field(st.sampled_from(["Mozilla/5.0", "curl/8"]))),
                   "X-Forwarded-For": draw(field(st.just("203.0.113.9")))}
        event["headers"] = headers if draw(st.integers(0, 9)) else draw(any_json)
    if event_type == "MESSAGE" or draw(st.integers(0, 9)) == 0:
        event["body"], event["isBase64Encoded"] = draw(message_body())
    if draw(st.integers(0, 9)) == 0:
        event[draw(short_text)] = draw(any_json)
    return event


SAFE_RESPONSE_URL = st.one_of(st.sampled_from(["not a url", "ftp://x/y", "file:///etc/passwd", "http://example.com/x"]),
                              st.none(), st.integers(), st.lists(st.integers(), max_size=2))
"""``ResponseURL`` values that never reach a network (refused before any request)."""


@st.composite
def other_events(draw: st.DrawFn) -> Any:
    """Direct invokes, EventBridge events, CloudFormation events with unusable ResponseURLs, and
    payloads of any JSON type."""
    shape = draw(st.integers(0, 4))
    if shape == 0:
        return draw(any_json)
    if shape == 1:
        return {"action": draw(field(st.sampled_from(["notify", "cleanup", "migrate", "drop"]))),
                "email": draw(field(plausible_email)), "type": draw(field(st.sampled_from(TYPES))),
                "message": draw(any_json), "dry_run": draw(field(st.booleans()))}
    if shape == 2:
        return {"detail-type": draw(field(st.sampled_from(["Scheduled Event", "Email Verified"]))),
                "source": "app", "detail": draw(field(st.fixed_dictionaries(
                    {"email": field(plausible_email), "type": field(st.sampled_from(TYPES)), "message": any_json})))}
    if shape == 3:
        return {"RequestType": draw(field(st.sampled_from(["Create", "Update", "Delete"]))),
                "ResponseURL": draw(SAFE_RESPONSE_URL), "StackId": draw(any_json), "RequestId": "r",
                "LogicalResourceId": "DatabaseMigrations",
                "ResourceProperties": draw(field(st.just({"action": "migrate"})))}
    return draw(st.dictionaries(st.sampled_from(["action", "requestContext", "detail-type", "detail", "RequestType",
                                                 "Records", "body"]), any_json, max_size=3).filter(
        lambda event: "ResponseURL" not in event))


def any_events() -> st.SearchStrategy[Any]:
    """Every kind of invocation payload (WebSocket events weighted 3:1)."""
    return st.one_of(websocket_events(), websocket_events(), websocket_events(), other_events())


@st.composite
def socket_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """What a real client controls over the wire: query parameters (percent-encoded by the test),
    a User-Agent and one message frame (text, possibly nested to 128 KB, or binary)."""
    if draw(st.booleans()):  # half the handshakes are valid, so their frames reach the message route
        email, kind = f"user{draw(st.integers(0, 10_000))}@example.com", draw(st.sampled_from(TYPES))
    else:
        email, kind = draw(field(plausible_email)), draw(st.sampled_from([*TYPES, "other", ""]))
    query = {"email": email if isinstance(email, str) else json.dumps(email), "type": kind}
    agent = draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=300))
    text = draw(st.one_of(plain_body, deep_body))
    frame: str | bytes = text
    if draw(st.integers(0, 4)) == 0:
        frame = text.encode("utf-8", "surrogatepass")  # a binary frame (maybe not even valid UTF-8)
    return {"query": query, "user_agent": agent, "frame": frame}
