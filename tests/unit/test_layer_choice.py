"""The layer each video slot carries: tile size first, then the subscriber's budget."""

from __future__ import annotations

from classroom.rooms.layer_choice import LayerOption, choose_layers
from classroom.rooms.rtp import vp8_keyframe_size, vp8_keyframe_start

LAYERS = [
    LayerOption("q", 180, 150_000),
    LayerOption("h", 360, 500_000),
    LayerOption("f", 720, 1_500_000),
]


def test_the_smallest_layer_that_fills_the_tile() -> None:
    tiles = {"1": (320, 180), "2": (640, 360), "3": (1280, 720), "4": (200, 100), "5": (3840, 2160)}
    chosen = choose_layers(tiles, dict.fromkeys(tiles, LAYERS), None)
    assert chosen == {"1": "q", "2": "h", "3": "f", "4": "q", "5": "f"}


def test_a_slot_never_reported_counts_as_640x360() -> None:
    assert choose_layers({}, {"7": LAYERS}, None) == {"7": "h"}


def test_hidden_tiles_get_nothing() -> None:
    chosen = choose_layers(
        {"1": None, "2": (0, 180), "3": (320, 0)}, dict.fromkeys("123", LAYERS), None
    )
    assert chosen == {"1": None, "2": None, "3": None}


def test_over_budget_the_largest_tile_steps_down_first() -> None:
    tiles = {"big": (1280, 720), "small": (640, 360)}
    options = dict.fromkeys(tiles, LAYERS)
    # f + h = 2.0 Mbit/s; 1.6 Mbit/s fits h + h... after the big one stepped down once.
    assert choose_layers(tiles, options, 1_600_000) == {"big": "h", "small": "h"}
    # 0.7 Mbit/s: the big one stepped to h, then (now the same layer) the larger tile again.
    assert choose_layers(tiles, options, 700_000) == {"big": "q", "small": "h"}
    assert choose_layers(tiles, options, 2_000_000) == {"big": "f", "small": "h"}


def test_never_below_the_smallest_layer_while_shown() -> None:
    tiles = {"1": (1280, 720), "2": (320, 180)}
    assert choose_layers(tiles, dict.fromkeys(tiles, LAYERS), 1_000) == {"1": "q", "2": "q"}


def test_one_stream_publisher_is_one_layer_for_everyone() -> None:
    one = [LayerOption("", 480, 1_000_000)]
    assert choose_layers({"1": (160, 90), "2": None}, {"1": one, "2": one}, 10) == {
        "1": "",
        "2": None,
    }


def _keyframe_payload(width: int, height: int, descriptor: bytes = b"\x10") -> bytes:
    # VP8 frame tag of a key frame (P bit 0, show_frame), the start code, then the sizes.
    tag = bytes([0x10, 0x02, 0x00])
    return (
        descriptor
        + tag
        + b"\x9d\x01\x2a"
        + width.to_bytes(2, "little")
        + height.to_bytes(2, "little")
        + b"\x00" * 8
    )


def test_vp8_keyframe_size_is_read_from_the_header() -> None:
    payload = _keyframe_payload(320, 180)
    assert vp8_keyframe_start(payload)
    assert vp8_keyframe_size(payload) == (320, 180)
    # With the extended descriptor (X, I with a 15-bit picture id) and scaling bits set.
    extended = _keyframe_payload(1280 | 0x4000, 720, descriptor=b"\x90\x80\x81\x23")
    assert vp8_keyframe_size(extended) == (1280, 720)


def test_vp8_keyframe_size_of_anything_else_is_none() -> None:
    interframe = b"\x10" + bytes([0x11, 0x02, 0x00]) + b"\x00" * 12
    assert vp8_keyframe_size(interframe) is None
    assert vp8_keyframe_size(b"\x10\x10\x02\x00\x9d\x01") is None
    assert vp8_keyframe_size(b"") is None
