"""The action registry and route responses (no store, no network)."""
from __future__ import annotations

import pytest

from websocket_service.routes import ActionRegistry, RouteResult, actions


def test_ping_is_registered_by_default():
    assert "ping" in actions.names()


@pytest.mark.parametrize("name", ["", None, 5])
def test_action_names_must_be_non_empty_strings(name):
    with pytest.raises(ValueError, match="non-empty string"):
        ActionRegistry().register(name)


def test_register_get_unregister():
    registry = ActionRegistry()

    @registry.register("hello")
    def hello(request):
        return {"type": "hi"}

    assert registry.get("hello") is hello and registry.names() == ["hello"]
    with pytest.raises(ValueError, match="'hello' is already registered"):
        registry.register("hello")(hello)
    registry.unregister("hello")
    registry.unregister("hello")  # no error the second time
    assert registry.get("hello") is None


def test_route_result_bodies_are_compact_json():
    assert RouteResult(200).to_response() == {"statusCode": 200}
    assert RouteResult(200, {"type": "pong"}).to_response() == {"statusCode": 200, "body": '{"type":"pong"}'}
    assert RouteResult(400, {"message": "café"}).to_response()["body"] == '{"message":"café"}'
