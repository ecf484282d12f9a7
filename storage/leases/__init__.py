"""Named leases in the metadata database: one holder at a time, until it lapses."""

from storage.leases.lease import LeaseState, holder_of, release, try_hold

__all__ = ["LeaseState", "holder_of", "release", "try_hold"]
