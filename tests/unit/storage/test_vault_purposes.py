"""check_clip_purpose: the query-free consent check used by the media route."""

from __future__ import annotations

import pytest

from storage.db.footage import Consent
from storage.errors import ConsentError
from storage.purposes import check_clip_purpose
from tests.unit.storage.vault_helpers import new_clip
from webapp.composition import Services


def test_only_the_clips_own_consent_counts(services: Services) -> None:
    with services.db.session() as session:
        clip = new_clip(session, services, services.vault)
        other = new_clip(session, services, services.vault, slug="south")
        own = session.get(Consent, clip.consent_id)
        foreign = session.get(Consent, other.consent_id)
        assert own is not None and foreign is not None
        assert check_clip_purpose(clip, own, "supervision") is own
        with pytest.raises(ConsentError):
            check_clip_purpose(clip, foreign, "supervision")
        with pytest.raises(ConsentError):
            check_clip_purpose(clip, None, "supervision")
        with pytest.raises(ConsentError):
            check_clip_purpose(clip, own, "training-events")
