"""``cluster.standby_ari``: the ARI of the Asterisk nodes a node stands in for."""

from __future__ import annotations

import pytest

from ccari.errors import ConfigError
from ccari.voice.adoption import StandbyAri, parse_standby


def test_each_entry_names_a_node_and_its_asterisks_ari() -> None:
    assert parse_standby(["b=http://ccari:s3cret-x@10.0.0.2:8088",
                          " c = https://u:p@media-c:8089/"]) == {
        "b": StandbyAri("b", "http://10.0.0.2:8088", "ccari", "s3cret-x"),
        "c": StandbyAri("c", "https://media-c:8089", "u", "p")}


@pytest.mark.parametrize("entry", ["http://ccari:pw@10.0.0.2:8088", "b=ftp://u:pw@h:1",
                                   "b=http://10.0.0.2:8088", "b=http://ccari@10.0.0.2:8088",
                                   "=http://u:pw@h:1"])
def test_an_entry_that_cannot_be_used_stops_the_start_without_showing_a_password(
        entry: str) -> None:
    with pytest.raises(ConfigError, match="cluster.standby_ari") as raised:
        parse_standby([entry])
    assert "pw" not in str(raised.value)
