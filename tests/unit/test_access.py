"""Who may do what on which cohort (classroom.domain.access)."""

from __future__ import annotations

import pytest

from classroom.domain.access import Access, Grant, Permission, PersonRole, normal_email


def test_admin_may_do_everything_everywhere() -> None:
    admin = Access.of("Ada@Example.no", [Grant(PersonRole.admin)])
    assert admin.email == "ada@example.no" and admin.is_admin
    assert all(admin.may(p, "c_any") for p in Permission)
    assert admin.may(Permission.administer)


def test_programme_manager_runs_only_their_cohorts() -> None:
    pm = Access.of("pm@x.no", [Grant(PersonRole.programme_manager, "c_a")])
    for p in Permission:
        if p is Permission.administer:
            assert not pm.may(p, "c_a")
        elif p is not Permission.list_cohorts:
            assert pm.may(p, "c_a"), p
            assert not pm.may(p, "c_b"), p
            assert not pm.may(p), p  # a cohort route must name its cohort
    assert pm.may(Permission.list_cohorts) and pm.cohorts() == {"c_a"}


def test_facilitator_runs_sessions_but_not_the_roster() -> None:
    f = Access.of("f@x.no", [Grant(PersonRole.facilitator, "c_a")])
    assert f.may(Permission.run_sessions, "c_a") and f.may(Permission.read_reports, "c_a")
    assert f.may(Permission.read_links, "c_a")
    for p in (Permission.manage_roster, Permission.manage_sessions, Permission.manage_links):
        assert not f.may(p, "c_a")
    assert not f.may(Permission.run_sessions, "c_b")


def test_no_grant_no_access() -> None:
    nobody = Access.of("n@x.no", [])
    assert not nobody.has_role
    assert not any(nobody.may(p, "c_a") for p in Permission)


def test_grants_need_the_right_scope() -> None:
    with pytest.raises(ValueError):
        Grant(PersonRole.admin, "c_a")
    with pytest.raises(ValueError):
        Grant(PersonRole.facilitator)
    g = Grant(PersonRole.facilitator, "c_a")
    assert Grant.decode(g.encode()) == g
    assert normal_email("  Kari@Kommune.NO ") == "kari@kommune.no"
