from __future__ import annotations

import pytest

from chalicelib.config import Settings, SettingsError, WriteKey


def test_defaults_name_tables_per_stage() -> None:
    settings = Settings.from_env({"AUTOFUNNEL_STAGE": "prod"})
    assert settings.table_name("contacts") == "autofunnel-prod-contacts"
    assert settings.dynamodb_endpoint == ""
    assert settings.admin_key == ""


def test_write_keys_with_origins_and_a_single_dev_key() -> None:
    settings = Settings.from_env(
        {
            "AUTOFUNNEL_WRITE_KEYS": '{"shop-key": ["https://shop.example"]}',
            "AUTOFUNNEL_WRITE_KEY": "dev-key",
        }
    )
    assert settings.write_key("shop-key") == WriteKey("shop-key", ("https://shop.example",))
    assert settings.write_key("dev-key") == WriteKey("dev-key", ("*",))
    assert settings.write_key("other") is None


@pytest.mark.parametrize("raw", ["{not json", '["a"]', '{"k": "https://x"}'])
def test_malformed_write_keys_name_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="AUTOFUNNEL_WRITE_KEYS"):
        Settings.from_env({"AUTOFUNNEL_WRITE_KEYS": raw})


def test_provider_credentials_pass_through_and_nothing_else() -> None:
    settings = Settings.from_env({"SENDGRID_API_KEY": "SG.x", "HOME": "/root"})
    assert dict(settings.providers) == {"SENDGRID_API_KEY": "SG.x"}
