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


#: A subscriber's estimate below this share of what it is being sent now is congestion.
CONGESTED_SHARE = 0.8
#: After congestion the estimate caps the choice for this long; then the choice is free
#: again, and a link that still cannot carry it shows as congestion once more.
CONGESTION_HOLD_S = 10.0


def usable_budget(
    estimate_bps: float | None, forwarded_bps: float, now: float, congested_until: float
) -> tuple[float | None, float]:
    """The budget `choose_layers` gets, and until when the subscriber counts as congested.

    A receiver's REMB follows what it receives: a browser estimates only ~1.05-1.5 times
    its current rate while nothing probes above it. Used as a hard cap it would never let a
    tile that stepped down climb back, however large the tile is shown. So the estimate caps
    the choice only on evidence: when it falls below what the subscriber is sent now (its
    link is full), and for CONGESTION_HOLD_S after that; otherwise the tiles decide."""
    if estimate_bps is None:
        return None, congested_until
    if forwarded_bps > 0 and estimate_bps < CONGESTED_SHARE * forwarded_bps:
        return estimate_bps, now + CONGESTION_HOLD_S
    if now < congested_until:
        return estimate_bps, congested_until
    return None, congested_until
