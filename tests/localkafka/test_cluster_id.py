"""KRaft cluster ids: the storage tool must never mistake one for an option."""

import uuid
from unittest import mock

from localkafka.cluster import new_cluster_id


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    # 0xf8.. encodes to "-" as the first URL-safe base64 character.
    dash_first = uuid.UUID(bytes=b"\xf8" + b"\x00" * 15)
    plain = uuid.UUID(bytes=b"\x10" * 16)
    with mock.patch("localkafka.cluster.uuid.uuid4", side_effect=[dash_first, plain]):
        cluster_id = new_cluster_id()
    assert cluster_id == "EBAQEBAQEBAQEBAQEBAQEA"
    assert len(new_cluster_id()) == 22
