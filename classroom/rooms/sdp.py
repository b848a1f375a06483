"""SDP rewriting the server applies to its own offers."""

from __future__ import annotations

import re

_CANDIDATE = re.compile(
    r"^a=candidate:(?P<foundation>\S+) (?P<component>\d+) (?P<transport>\S+) (?P<priority>\d+) "
    r"(?P<ip>\S+) (?P<port>\d+) typ host(?P<rest>.*)$"
)


def advertise_public_ip(sdp: str, public_ip: str) -> str:
    """Add a copy of every host candidate with the configured public address.

    For a node behind 1:1 NAT (a cloud VM): the browser's checks to the public address
    arrive at the host socket, as with Jitsi's NAT_HARVESTER_PUBLIC_ADDRESS. The copy has a
    higher priority so that browsers try it first.
    """
    out: list[str] = []
    for line in sdp.splitlines():
        match = _CANDIDATE.match(line)
        if match and match["ip"] != public_ip and ":" not in match["ip"]:
            priority = min(int(match["priority"]) + 1, 2**31 - 1)
            out.append(
                f"a=candidate:{match['foundation']}p {match['component']} {match['transport']} "
                f"{priority} {public_ip} {match['port']} typ host{match['rest']}"
            )
        out.append(line)
    return "\r\n".join(out) + "\r\n"
