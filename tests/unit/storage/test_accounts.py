"""Sites and user accounts: validation that stores nothing, hashing, authentication, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.accounts import (
    MIN_PASSWORD,
    add_user,
    authenticate,
    check_password,
    create_site,
    site_by_slug,
)
from storage.audit import Actor
from storage.db.governance import AuditEntry
from storage.db.tenancy import Site, User
from storage.errors import NotFound, ValidationError
from webapp.composition import Services

ADMIN = Actor.system("test")
PASSWORD = "correct horse battery"


def counts(svc: Services) -> tuple[int, int, int]:
    """Sites, users and audit entries currently stored (read in a fresh unit of work)."""
    with svc.db.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Site)) or 0,
            session.scalar(select(func.count()).select_from(User)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


@pytest.fixture
def site_id(services: Services) -> str:
    with services.db.session() as session:
        return create_site(session, services.audit, ADMIN, "north", "North Team").id


def add(services: Services, site_id: str, **overrides: str) -> User:
    fields = {"email": "ana@example.org", "role": "facilitator", "password": PASSWORD}
    fields.update(overrides)
    with services.db.session() as session:
        return add_user(session, services.audit, ADMIN, site_id=site_id, **fields)


class TestSites:
    def test_create_and_find_by_slug(self, services: Services) -> None:
        with services.db.session() as session:
            site = create_site(session, services.audit, ADMIN, "north", "North Team")
        with services.db.session() as session:
            found = site_by_slug(session, "north")
            assert (found.id, found.name) == (site.id, "North Team")
            entry = session.scalars(select(AuditEntry)).one()
            assert (entry.action, entry.target_id, entry.site_id) == (
                "site.create",
                site.id,
                site.id,
            )

    def test_name_defaults_to_the_slug(self, services: Services) -> None:
        with services.db.session() as session:
            assert create_site(session, services.audit, ADMIN, "south", "").name == "south"

    @pytest.mark.parametrize("slug", ["", "North", "has space", "-lead", "a/b", "x" * 64])
    def test_bad_slug_is_refused_and_nothing_stored(self, services: Services, slug: str) -> None:
        with pytest.raises(ValidationError, match="slug"), services.db.session() as session:
            create_site(session, services.audit, ADMIN, slug, "Name")
        assert counts(services) == (0, 0, 0)

    def test_duplicate_slug_is_refused(self, services: Services, site_id: str) -> None:
        before = counts(services)
        with (
            pytest.raises(ValidationError, match="already exists"),
            services.db.session() as session,
        ):
            create_site(session, services.audit, ADMIN, "north", "Again")
        assert counts(services) == before

    def test_unknown_slug_is_not_found(self, services: Services) -> None:
        with pytest.raises(NotFound), services.db.session() as session:
            site_by_slug(session, "nowhere")


class TestUsers:
    def test_add_user_normalises_email_and_hashes_password(
        self, services: Services, site_id: str
    ) -> None:
        user = add(services, site_id, email="  Ana@Example.ORG ")
        with services.db.session() as session:
            stored = session.get(User, user.id)
            assert stored is not None
            assert stored.email == "ana@example.org"
            assert stored.display_name == "ana"
            assert stored.site_id == site_id
            assert PASSWORD not in stored.password_hash
            assert stored.password_hash.startswith("$argon2id$")
            assert check_password(stored.password_hash, PASSWORD)

    def test_audit_entry_holds_ids_and_role_only(self, services: Services, site_id: str) -> None:
        user = add(services, site_id, display_name="Ana Example")
        with services.db.session() as session:
            entry = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "user.create")
            ).one()
        assert (entry.target_id, entry.site_id, entry.details) == (
            user.id,
            site_id,
            {"role": "facilitator"},
        )
        text = repr((entry.actor_id, entry.target_id, entry.details))
        assert "ana" not in text.lower()

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("email", "not-an-email", "not an email"),
            ("email", "two@@example.org", "not an email"),
            ("role", "superuser", "role must be one of"),
            ("password", "x" * (MIN_PASSWORD - 1), f"at least {MIN_PASSWORD}"),
        ],
    )
    def test_bad_input_is_refused_and_nothing_stored(
        self, services: Services, site_id: str, field: str, value: str, message: str
    ) -> None:
        before = counts(services)
        with pytest.raises(ValidationError, match=message):
            add(services, site_id, **{field: value})
        assert counts(services) == before

    def test_duplicate_email_is_refused_case_insensitively(
        self, services: Services, site_id: str
    ) -> None:
        add(services, site_id)
        before = counts(services)
        with pytest.raises(ValidationError, match="already exists"):
            add(services, site_id, email="ANA@example.org", role="supervisor")
        assert counts(services) == before

    def test_error_message_does_not_echo_the_password(
        self, services: Services, site_id: str
    ) -> None:
        with pytest.raises(ValidationError) as info:
            add(services, site_id, password="short1")
        assert "short1" not in str(info.value)


class TestAuthenticate:
    def test_right_password_returns_the_user(self, services: Services, site_id: str) -> None:
        user = add(services, site_id)
        with services.db.session() as session:
            found = authenticate(session, " ANA@example.org", PASSWORD)
            assert found is not None and found.id == user.id

    @pytest.mark.parametrize(
        ("email", "password"),
        [
            ("ana@example.org", "wrong password!"),
            ("ana@example.org", ""),
            ("nobody@example.org", PASSWORD),
        ],
    )
    def test_wrong_credentials_return_none(
        self, services: Services, site_id: str, email: str, password: str
    ) -> None:
        add(services, site_id)
        with services.db.session() as session:
            assert authenticate(session, email, password) is None

    def test_inactive_user_cannot_log_in(self, services: Services, site_id: str) -> None:
        user = add(services, site_id)
        with services.db.session() as session:
            stored = session.get(User, user.id)
            assert stored is not None
            stored.active = False
        with services.db.session() as session:
            assert authenticate(session, "ana@example.org", PASSWORD) is None
