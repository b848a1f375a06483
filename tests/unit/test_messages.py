"""The quick check of `view` messages against their schema: it may pass only what the
schema accepts, and it passes the views clients send."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from classroom.signaling import messages
from classroom.signaling.messages import VIEW_SIDE_MAX, ProtocolError

VALIDATOR = messages._VALIDATORS["view"]

#: Sides around the limits, and values of other JSON types.
SIDES = st.one_of(
    st.integers(-2, 2),
    st.integers(VIEW_SIDE_MAX - 2, VIEW_SIDE_MAX + 2),
    st.integers(0, VIEW_SIDE_MAX),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.none(),
)
MIDS = st.one_of(
    st.from_regex(r"\A[0-9]{1,4}\Z"),
    st.text(alphabet="0123456789a \n٣", min_size=0, max_size=6),
)
SIZES = st.one_of(
    st.none(),
    st.fixed_dictionaries({"width": SIDES, "height": SIDES}),
    st.dictionaries(st.sampled_from(["width", "height", "depth"]), SIDES, max_size=3),
    st.integers(),
    st.lists(st.integers(), max_size=2),
)
VIEWS = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, True, 1.0, 2]),
        "type": st.just("view"),
        "slots": st.one_of(st.dictionaries(MIDS, SIZES, max_size=70), st.lists(st.none())),
    },
    optional={"extra": st.integers()},
)


@settings(max_examples=400, deadline=None)
@given(VIEWS)
def test_the_quick_check_passes_only_what_the_schema_accepts(message: dict[str, Any]) -> None:
    if messages._view_fits(message):
        assert list(VALIDATOR.iter_errors(message)) == []


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"\A[0-9]{1,4}\Z"),
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {"width": st.integers(0, VIEW_SIDE_MAX), "height": st.integers(0, VIEW_SIDE_MAX)}
            ),
        ),
        max_size=64,
    )
)
def test_the_views_clients_send_take_the_quick_check(slots: dict[str, Any]) -> None:
    message = {"v": 1, "type": "view", "slots": slots}
    assert list(VALIDATOR.iter_errors(message)) == []
    assert messages._view_fits(message)
    assert messages.parse(json.dumps(message)) == message


def test_a_view_the_quick_check_does_not_pass_is_refused_with_the_schemas_words() -> None:
    for slots, words in (
        ({"3": {"width": 1.5, "height": 90}}, "slots/3"),
        ({"3": {"width": 160, "height": VIEW_SIDE_MAX + 1}}, "slots/3"),
        ({"x3": None}, "slots"),
        ({str(i): None for i in range(65)}, "slots"),
    ):
        raw = json.dumps({"v": 1, "type": "view", "slots": slots})
        try:
            messages.parse(raw)
        except ProtocolError as exc:
            assert exc.code == "bad_message"
            assert exc.message.startswith(words), exc.message
        else:
            raise AssertionError(f"accepted {slots!r}")
