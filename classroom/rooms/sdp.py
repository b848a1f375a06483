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


_RTPMAP_OPUS = re.compile(r"^a=rtpmap:(?P<pt>\d+) opus/48000(?:/\d+)?$", re.IGNORECASE)
_FMTP = re.compile(r"^a=fmtp:(?P<pt>\d+) (?P<params>.*)$")


def enable_opus_fec(sdp: str) -> str:
    """Say `useinbandfec=1` for every Opus payload type offered (RFC 7587).

    A browser's Opus encoder adds in-band FEC (a low-bitrate copy of the previous frame) only
    when the remote description asks for it, and aiortc's offer has no Opus fmtp at all. The
    server never decodes: the parameter is true for what it forwards, since FEC rides inside
    ordinary Opus packets that every subscriber's decoder reads (or ignores). The publisher's
    encoder then codes FEC while the server's receiver reports tell it of loss on its uplink,
    so a listener recovers single packets lost between that publisher and the server.
    """
    sections: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    return "\r\n".join(line for s in sections for line in _opus_fec_section(s)) + "\r\n"


def _opus_fec_section(lines: list[str]) -> list[str]:
    """One m-section (or the session part) with useinbandfec=1 on each Opus payload type."""
    opus = {m["pt"] for m in map(_RTPMAP_OPUS.match, lines) if m}
    if not opus:
        return lines
    out: list[str] = []
    with_fmtp: set[str] = set()
    for line in lines:
        fmtp = _FMTP.match(line)
        if fmtp and fmtp["pt"] in opus:
            with_fmtp.add(fmtp["pt"])
            names = {p.split("=", 1)[0].strip().lower() for p in fmtp["params"].split(";")}
            if "useinbandfec" not in names:
                line = f"{line};useinbandfec=1"
        out.append(line)
    result: list[str] = []
    for line in out:
        result.append(line)
        rtpmap = _RTPMAP_OPUS.match(line)
        if rtpmap and rtpmap["pt"] not in with_fmtp:
            result.append(f"a=fmtp:{rtpmap['pt']} useinbandfec=1")
    return result
