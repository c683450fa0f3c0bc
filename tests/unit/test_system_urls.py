"""ORDERSYNC_<NAME>_URL: each system's URL read by its registry name, validated at start-up."""

from __future__ import annotations

import pytest

from actors import erp
from actors.systems import SYSTEMS, DownstreamSystem
from ops.settings import SettingsError, load_settings
from ops.system_urls import system_urls


def test_unset_every_system_is_its_simulator_on_the_default_port() -> None:
    assert system_urls(SYSTEMS, {}) == {
        "erp": "http://127.0.0.1:8090/erp",
        "wms": "http://127.0.0.1:8090/wms",
        "crm": "http://127.0.0.1:8090/crm",
    }


def test_the_interfaces_variables_still_set_the_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSYNC_ERP_URL", "https://erp.example.com/api")
    monkeypatch.setenv("ORDERSYNC_WMS_URL", "http://10.0.0.5:7000/wms")
    monkeypatch.setenv("ORDERSYNC_CRM_URL", "")  # empty: the default

    assert load_settings().system_urls == {
        "erp": "https://erp.example.com/api",
        "wms": "http://10.0.0.5:7000/wms",
        "crm": "http://127.0.0.1:8090/crm",
    }


@pytest.mark.parametrize(
    "value", ["ftp://erp.example.com", "erp.example.com", "http://", "http://h:x/"]
)
def test_a_bad_url_is_a_settings_error_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ORDERSYNC_ERP_URL", value)
    with pytest.raises(SettingsError, match="invalid settings: ORDERSYNC_ERP_URL: "):
        load_settings()


def test_a_system_of_ones_own_gets_its_variable_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    own = SYSTEMS.plus(DownstreamSystem("threepl", erp.ErpClient, erp.HANDLERS, "/threepl"))
    assert system_urls(own, {})["threepl"] == "http://127.0.0.1:8090/threepl"
    monkeypatch.setenv("ORDERSYNC_THREEPL_URL", "http://3pl.example.com/v2")
    assert load_settings(systems=own).system_urls["threepl"] == "http://3pl.example.com/v2"
    assert "threepl" not in load_settings().system_urls
