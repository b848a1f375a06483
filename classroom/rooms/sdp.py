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


#: RTP header extensions that name a simulcast layer (RFC 8852): the layer a packet belongs
#: to, and the layer an RTX packet repairs.
URI_RTP_STREAM_ID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RTP_STREAM_ID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
#: The ids the server offers for them (the answerer keeps an offerer's ids; aiortc's own
#: video extensions use 1 and 3).
RID_EXTENSION_IDS = {URI_RTP_STREAM_ID: 10, URI_REPAIRED_RTP_STREAM_ID: 11}
#: Camera layers, low to high: quarter, half and full resolution (the browser's order).
SIMULCAST_RIDS = ("q", "h", "f")

_RID_SEND = re.compile(r"^a=rid:(?P<rid>[A-Za-z0-9_-]{1,16}) send\b")
_SIMULCAST_SEND = re.compile(r"^a=simulcast:send (?P<list>\S+)$")
_EXTMAP = re.compile(r"^a=extmap:(?P<id>\d+)(?:/\S+)? (?P<uri>\S+)")


def _sections(sdp: str) -> list[list[str]]:
    sections: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    return sections


def offer_simulcast(sdp: str, mid: str) -> str:
    """Ask for the camera in layers (RFC 8853): the RID extensions, one `a=rid:<id> recv` per
    layer and `a=simulcast:recv q;h;f` on the m-section of `mid`, and nothing elsewhere.

    A browser that answers with `a=simulcast:send` sends up to three encodings on that one
    m-section, each with its own SSRC and the RID in its packets; one that does not sends
    one stream, which the server treats as a single layer."""
    out: list[str] = []
    for section in _sections(sdp):
        if f"a=mid:{mid}" not in section:
            out.extend(section)
            continue
        last_extmap = max(
            (i for i, line in enumerate(section) if line.startswith("a=extmap:")),
            default=len(section) - 1,
        )
        extra = [f"a=extmap:{i} {uri}" for uri, i in RID_EXTENSION_IDS.items()]
        section = section[: last_extmap + 1] + extra + section[last_extmap + 1 :]
        section += [f"a=rid:{rid} recv" for rid in SIMULCAST_RIDS]
        section.append("a=simulcast:recv " + ";".join(SIMULCAST_RIDS))
        out.extend(section)
    return "\r\n".join(out) + "\r\n"


def answered_simulcast(sdp: str, mid: str) -> tuple[list[str], dict[str, int]]:
    """What an answer says of simulcast on the m-section of `mid`: the layers it will send
    (the `a=simulcast:send` list that has `a=rid ... send` lines, in its order; alternatives
    after a comma and paused `~` layers count as the layer) and the ids of the RID extensions
    it accepted. ([], {}) means a single stream."""
    for section in _sections(sdp)[1:]:
        if f"a=mid:{mid}" not in section:
            continue
        declared = {m["rid"] for m in map(_RID_SEND.match, section) if m}
        listed: list[str] = []
        for match in map(_SIMULCAST_SEND.match, section):
            if match:
                for alternatives in match["list"].split(";"):
                    rid = alternatives.split(",")[0].lstrip("~")
                    if rid in declared and rid not in listed:
                        listed.append(rid)
        ids = {
            m["uri"]: int(m["id"])
            for m in map(_EXTMAP.match, section)
            if m and m["uri"] in RID_EXTENSION_IDS
        }
        return listed, ids
    return [], {}


def strip_simulcast(sdp: str) -> str:
    """The answer without its `a=rid` and `a=simulcast` lines, for a parser that does not
    know them (the information is read first, with `answered_simulcast`)."""
    lines = [
        line
        for line in sdp.splitlines()
        if not line.startswith("a=rid:") and not line.startswith("a=simulcast:")
    ]
    return "\r\n".join(lines) + "\r\n"
