"""What a programme plan must respect besides the score: pins and people kept apart. Pure.

A coordinator pins a member to a group (a mentor who stays with "Group 2" in every round, a
facilitator per group) and keeps two people apart (a leader and their own manager). The
planner itself (`planner`, `pairing_search`) knows nothing of them: it seats for the score.
`repair` is the step after it, swapping members between groups of one round until the
constraints hold, choosing each swap for the smallest loss of score; `violations` is what
the programme page shows when a hand edit breaks one. Groups are named by their index in
the round (0 is the first), because a plan's rounds have no group ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: Pins and apart pairs a cohort may have (the page and the API refuse more).
MAX_PINS = 200
MAX_APART = 200

Rounds = list[list[list[str]]]


class ConstraintError(ValueError):
    """Constraints that cannot be kept as given; `details` says which, per field."""

    def __init__(self, message: str, details: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.details = details


class _Member(Protocol):
    @property
    def department(self) -> str: ...


class _History(Protocol):
    def met(self, a: str, b: str) -> int: ...


@dataclass(frozen=True)
class Constraints:
    #: member id -> the index of the group they sit in, every round.
    pins: Mapping[str, int]
    #: Pairs (sorted) who never share a group.
    apart: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "pins": [{"member_id": m, "group": g} for m, g in sorted(self.pins.items())],
            "apart": [list(p) for p in self.apart],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Constraints:
        pins = {str(p["member_id"]): int(p["group"]) for p in data.get("pins", [])}
        apart = tuple(sorted({_pair(str(a), str(b)) for a, b in data.get("apart", [])}))
        return Constraints(pins, apart)

    @property
    def empty(self) -> bool:
        return not self.pins and not self.apart


NONE = Constraints({}, ())


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def checked(data: Mapping[str, Any], roster: Sequence[str]) -> Constraints:
    """Constraints from a request already fitting the schema, bound to the cohort's roster:
    unknown members, a member pinned twice, a pair of one person or a pinned pair kept
    apart in the same group are refused (`ConstraintError`, nothing kept)."""
    on_roster = set(roster)
    problems: list[dict[str, str]] = []
    pins: dict[str, int] = {}
    for i, pin in enumerate(data.get("pins", [])):
        m, g = str(pin["member_id"]), int(pin["group"])
        if m not in on_roster:
            problems.append(
                {"path": f"/pins/{i}/member_id", "message": f"{m} is not on the roster"}
            )
        elif m in pins:
            problems.append({"path": f"/pins/{i}/member_id", "message": f"{m} is pinned twice"})
        else:
            pins[m] = g
    apart: set[tuple[str, str]] = set()
    for i, (a, b) in enumerate(data.get("apart", [])):
        path = f"/apart/{i}"
        if a == b:
            problems.append({"path": path, "message": "a pair needs two different members"})
            continue
        unknown = [m for m in (a, b) if m not in on_roster]
        if unknown:
            problems.append({"path": path, "message": f"not on the roster: {', '.join(unknown)}"})
            continue
        if a in pins and b in pins and pins[a] == pins[b]:
            problems.append(
                {"path": path, "message": "both are pinned to the same group: they cannot be apart"}
            )
            continue
        apart.add(_pair(a, b))
    if problems:
        raise ConstraintError("the constraints do not fit the roster", problems)
    return Constraints(pins, tuple(sorted(apart)))


@dataclass(frozen=True)
class Violation:
    #: The round (0 is the first).
    round: int
    #: "pin": `member_ids[0]` is not in group `group`; "apart": both `member_ids` are in it.
    kind: str
    member_ids: tuple[str, ...]
    group: int

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "kind": self.kind,
            "member_ids": list(self.member_ids),
            "group": self.group,
        }


def _where(groups: Sequence[Sequence[str]]) -> dict[str, int]:
    return {m: gi for gi, group in enumerate(groups) for m in group}


def violations(rounds: Sequence[Sequence[Sequence[str]]], c: Constraints) -> list[Violation]:
    """Every pin and apart pair the plan breaks, round by round. A member the plan does not
    seat breaks nothing; a pin to a group the round does not have is broken."""
    out: list[Violation] = []
    for ri, groups in enumerate(rounds):
        where = _where(groups)
        for m, g in sorted(c.pins.items()):
            if m in where and where[m] != g:
                out.append(Violation(ri, "pin", (m,), g))
        for a, b in c.apart:
            if a in where and where.get(b) == where[a]:
                out.append(Violation(ri, "apart", (a, b), where[a]))
    return out


class _Cost:
    """The score's view of one pair, as a number to keep low: a repeat outweighs a shared
    department (the planner's own weights are its business; these only choose a swap)."""

    def __init__(self, people: Mapping[str, _Member], history: _History) -> None:
        self.people = people
        self.history = history

    def pair(self, a: str, b: str) -> float:
        cost = 10.0 * self.history.met(a, b)
        pa, pb = self.people.get(a), self.people.get(b)
        if pa and pb and pa.department and pa.department == pb.department:
            cost += 3.0
        return cost

    def with_group(self, m: str, group: Sequence[str], without: str = "") -> float:
        return sum(self.pair(m, o) for o in group if o not in (m, without))


def _apart_of(c: Constraints) -> dict[str, set[str]]:
    apart: dict[str, set[str]] = {}
    for a, b in c.apart:
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)
    return apart


def _clashes(m: str, group: Sequence[str], apart: Mapping[str, set[str]], without: str) -> int:
    return sum(1 for o in group if o != without and o != m and o in apart.get(m, ()))


def repair_round(
    groups: Sequence[Sequence[str]],
    c: Constraints,
    people: Mapping[str, _Member],
    history: _History,
) -> list[list[str]]:
    """One round's groups with the constraints kept where a swap can keep them: pinned
    members swapped into their group, then one of each pair sitting together swapped out.
    Group sizes never change, and a swap never breaks a pin or seats another apart pair."""
    out = [list(g) for g in groups]
    if c.empty or not out:
        return out
    cost = _Cost(people, history)
    apart = _apart_of(c)

    def pinned_here(m: str, gi: int) -> bool:
        return c.pins.get(m) == gi

    def swap(m: str, gm: int, o: str, go: int) -> None:
        out[gm][out[gm].index(m)] = o
        out[go][out[go].index(o)] = m

    def delta(m: str, gm: int, o: str, go: int) -> float:
        """Cost after minus before of swapping m (in gm) with o (in go)."""
        before = cost.with_group(m, out[gm]) + cost.with_group(o, out[go])
        after = cost.with_group(m, out[go], without=o) + cost.with_group(o, out[gm], without=m)
        return after - before

    def clash_delta(m: str, gm: int, o: str, go: int) -> int:
        before = _clashes(m, out[gm], apart, "") + _clashes(o, out[go], apart, "")
        after = _clashes(m, out[go], apart, o) + _clashes(o, out[gm], apart, m)
        return after - before

    # Pins first: a pinned member swaps with someone of their group who is not pinned there.
    for m, target in sorted(c.pins.items()):
        where = _where(out)
        if m not in where or not 0 <= target < len(out) or where[m] == target:
            continue
        gm = where[m]
        candidates = [
            (clash_delta(m, gm, o, target), delta(m, gm, o, target), o)
            for o in out[target]
            if not pinned_here(o, target)
        ]
        if candidates:
            swap(m, gm, min(candidates)[2], target)
    # Then apart pairs: move whichever of the two is not pinned, to where it clashes least.
    for _ in range(len(c.apart) * 2 + 1):
        broken = [v for v in violations([out], c) if v.kind == "apart"]
        if not broken:
            break
        progressed = False
        for v in broken:
            a, b = v.member_ids
            where = _where(out)
            if where.get(a) != where.get(b):
                continue  # an earlier swap of this pass parted them already
            gm = where[a]
            best: tuple[int, float, str, str, int] | None = None
            for m in (b, a):
                if pinned_here(m, gm):
                    continue
                for go, group in enumerate(out):
                    if go == gm:
                        continue
                    for o in group:
                        if pinned_here(o, go):
                            continue
                        clash = clash_delta(m, gm, o, go)
                        if clash >= 0:
                            continue  # it must part at least one pair and seat none more
                        cand = (clash, delta(m, gm, o, go), m, o, go)
                        if best is None or cand[:2] < best[:2]:
                            best = cand
            if best is not None:
                swap(best[2], gm, best[3], best[4])
                progressed = True
        if not progressed:
            break
    return out


def repair(
    rounds: Sequence[Sequence[Sequence[str]]],
    c: Constraints,
    people: Mapping[str, _Member],
    history: _History,
) -> Rounds:
    """Every round of a plan repaired (`repair_round`); what no swap can keep stays broken
    and shows in `violations`."""
    return [repair_round(groups, c, people, history) for groups in rounds]
