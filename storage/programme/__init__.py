"""The programme a site runs: groups and their co-facilitators and schedule, families,
who was filmed in a group session, reflective supervision, trainees' training record and
shares of a clip for supervision (docs/programme.md). Tables: storage/db/programme.py.
"""

from storage.programme.errors import FacilitatorsInvalid, GroupFull
from storage.programme.families import (
    enrol_family,
    family_code,
    family_consent,
    get_family,
    link_consent,
    list_families,
    move_family,
)
from storage.programme.groups import (
    UNASSIGNED_CODE,
    create_group,
    facilitator_group_ids,
    get_group,
    group_code,
    is_facilitator,
    mark_session_held,
    recompute_group_clips,
    set_session_date,
    unassigned_group,
)
from storage.programme.people import set_discipline
from storage.programme.placement import (
    Placement,
    Resolved,
    parse_meeting,
    placement_from_codes,
    resolve_placement,
)
from storage.programme.presence import (
    effective_purposes,
    present_families,
    record_present_families,
)
from storage.programme.schedule import default_schedule, group_session, programme_end_of
from storage.programme.shares import (
    MAX_SHARE_DAYS,
    active_share,
    end_shares_for,
    list_shares,
    may_receive,
    revoke_share,
    share_clip,
    share_state,
)
from storage.programme.supervision import (
    SupervisionStatus,
    list_supervisions,
    record_supervision,
    supervision_count,
    supervision_status,
)
from storage.programme.training import BlockRecord, is_trainee, sign_off_block, training_record

__all__ = [
    "MAX_SHARE_DAYS",
    "UNASSIGNED_CODE",
    "BlockRecord",
    "FacilitatorsInvalid",
    "GroupFull",
    "Placement",
    "Resolved",
    "SupervisionStatus",
    "active_share",
    "create_group",
    "default_schedule",
    "effective_purposes",
    "end_shares_for",
    "enrol_family",
    "facilitator_group_ids",
    "family_code",
    "family_consent",
    "get_family",
    "get_group",
    "group_code",
    "group_session",
    "is_facilitator",
    "is_trainee",
    "link_consent",
    "list_families",
    "list_shares",
    "list_supervisions",
    "mark_session_held",
    "may_receive",
    "move_family",
    "parse_meeting",
    "placement_from_codes",
    "present_families",
    "programme_end_of",
    "recompute_group_clips",
    "record_present_families",
    "record_supervision",
    "resolve_placement",
    "revoke_share",
    "set_discipline",
    "set_session_date",
    "share_clip",
    "share_state",
    "sign_off_block",
    "supervision_count",
    "supervision_status",
    "training_record",
    "unassigned_group",
]
