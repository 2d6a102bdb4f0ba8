from __future__ import annotations

from datetime import timedelta

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


def test_sms_countries_default_to_the_phone_region_and_empty_means_none() -> None:
    assert Settings.from_env({"AUTOFUNNEL_PHONE_REGION": "de"}).allowed_sms_countries == {"DE"}
    assert Settings.from_env({}).allowed_sms_countries == frozenset()
    listed = {"AUTOFUNNEL_SMS_COUNTRIES": "de, at", "AUTOFUNNEL_PHONE_REGION": "US"}
    assert Settings.from_env(listed).allowed_sms_countries == {"DE", "AT"}
    none = {"AUTOFUNNEL_SMS_COUNTRIES": "", "AUTOFUNNEL_PHONE_REGION": "US"}
    assert Settings.from_env(none).allowed_sms_countries == frozenset()
    with pytest.raises(SettingsError, match="AUTOFUNNEL_SMS_COUNTRIES"):
        Settings.from_env({"AUTOFUNNEL_SMS_COUNTRIES": "Germany"})


def test_daily_limits_frequency_cap_and_link_hosts() -> None:
    settings = Settings.from_env(
        {
            "AUTOFUNNEL_DAILY_LIMITS": '{"sms": 500, "whatsapp": 0}',
            "AUTOFUNNEL_FREQUENCY_CAP": "3 per 1w2d",
            "AUTOFUNNEL_LINK_HOSTS": "blog.shop.example, https://*.cdn.example/x",
            "AUTOFUNNEL_SITE_URL": "https://Shop.Example/",
        }
    )
    assert dict(settings.daily_limits) == {"sms": 500, "whatsapp": 0}
    assert settings.frequency_cap == (3, timedelta(days=9))
    assert settings.allowed_link_hosts == ("shop.example", "blog.shop.example", "*.cdn.example")
    assert settings.link_ttl_days == 90


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("AUTOFUNNEL_DAILY_LIMITS", '{"sms": -1}'),
        ("AUTOFUNNEL_DAILY_LIMITS", '{"sms": "500"}'),
        ("AUTOFUNNEL_FREQUENCY_CAP", "3 a week"),
        ("AUTOFUNNEL_FREQUENCY_CAP", "0 per 1d"),
        ("AUTOFUNNEL_LINK_HOSTS", "shop!example"),
        ("AUTOFUNNEL_LINK_TTL_DAYS", "0"),
    ],
)
def test_malformed_caps_name_their_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})
