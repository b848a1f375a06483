from __future__ import annotations

from classroom.rooms.sdp import advertise_public_ip

SDP = (
    "v=0\r\n"
    "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
    "a=candidate:def 1 udp 1694498815 198.51.100.1 40000 typ srflx raddr 10.0.0.5 rport 40000\r\n"
)


def test_public_ip_copies_host_candidates_only() -> None:
    out = advertise_public_ip(SDP, "203.0.113.9")
    lines = out.splitlines()
    assert "a=candidate:abcp 1 udp 2130706432 203.0.113.9 40000 typ host" in lines
    assert sum("203.0.113.9" in line for line in lines) == 1
    assert all(line in lines for line in SDP.splitlines())
