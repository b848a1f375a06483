"""Which simulcast layer each of one subscriber's video slots carries: a pure function.

The rule agreed in docs/protocol.md (`view`): per shown slot the smallest layer whose
height is at least the tile's height (the largest if none is); over the subscriber's
bandwidth estimate, the largest tiles step down first, one layer at a time, never below the
smallest layer while shown; a hidden tile gets none. A screen is always the full stream
(the caller gives it one layer).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The size a slot counts as shown at before the client's first `view`.
DEFAULT_TILE = (640, 360)


@dataclass(frozen=True)
class LayerOption:
    rid: str
    height: int
    #: Bits per second (0: not measured yet, counts as free).
    bitrate: float


def choose_layers(
    tiles: dict[str, tuple[int, int] | None],
    options: dict[str, list[LayerOption]],
    budget_bps: float | None,
) -> dict[str, str | None]:
    """slot mid → RID to forward (None: nothing). `tiles`: the slot's shown size (None or
    a zero side: hidden; a slot not in it counts as DEFAULT_TILE); `options`: the layers of
    the slot's source, low to high; `budget_bps`: the subscriber's estimate (None: no
    cap)."""
    chosen: dict[str, int] = {}
    result: dict[str, str | None] = {}
    for mid, layers in options.items():
        tile = tiles.get(mid, DEFAULT_TILE)
        if not layers or tile is None or tile[0] <= 0 or tile[1] <= 0:
            result[mid] = None
            continue
        index = next((i for i, o in enumerate(layers) if o.height >= tile[1]), len(layers) - 1)
        chosen[mid] = index
    if budget_bps is not None:
        total = sum(options[mid][i].bitrate for mid, i in chosen.items())
        while total > budget_bps:
            # The largest tile that can still step down gives first.
            candidates = [mid for mid, i in chosen.items() if i > 0]
            if not candidates:
                break
            mid = max(
                candidates,
                key=lambda m: (_area(tiles.get(m, DEFAULT_TILE)), options[m][chosen[m]].bitrate),
            )
            layers = options[mid]
            total -= layers[chosen[mid]].bitrate - layers[chosen[mid] - 1].bitrate
            chosen[mid] -= 1
    for mid, i in chosen.items():
        result[mid] = options[mid][i].rid
    return result


def _area(tile: tuple[int, int] | None) -> int:
    return tile[0] * tile[1] if tile else 0
