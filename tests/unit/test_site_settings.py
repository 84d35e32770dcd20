"""The status site's settings: defaults, and one message that names the setting to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from incidents.settings import SettingsError, load_settings


@pytest.fixture
def base(dev_key) -> dict[str, str]:
    return {"INCIDENTS_DEV_SIGNING_KEY": str(dev_key)}


def test_defaults_publish_to_a_local_directory_every_minute(base):
    s = load_settings(base)
    assert (s.site_sink, s.site_directory, s.site_container) == ("directory", Path(".local/site"), "$web")
    assert s.site_publish_schedule == "0 * * * * *" and s.site_base_url is None


def test_blob_by_account_url_or_connection_string(base):
    blob = {**base, "SITE_SINK": "blob", "SITE_BASE_URL": "https://st.z6.web.core.windows.net"}
    by_url = load_settings({**blob, "SITE_STORAGE_ACCOUNT_URL": "https://st.blob.core.windows.net"})
    assert by_url.site_storage_connection_string is None
    by_secret = load_settings({**blob, "SITE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"})
    assert "UseDevelopment" not in repr(by_secret)


@pytest.mark.parametrize(("env", "named"), [
    ({"SITE_SINK": "s3"}, "SITE_SINK"),
    ({"SITE_SINK": "blob"}, "SITE_STORAGE_ACCOUNT_URL"),
    # published to Blob Storage, the site needs its own address: hreflang, feed and API links are absolute
    ({"SITE_SINK": "blob", "SITE_STORAGE_ACCOUNT_URL": "https://st.blob.core.windows.net"}, "SITE_BASE_URL"),
    ({"SITE_STORAGE_ACCOUNT_URL": "st.blob.core.windows.net"}, "SITE_STORAGE_ACCOUNT_URL"),
    ({"SITE_BASE_URL": "status.petanque.life"}, "SITE_BASE_URL"),
    ({"SITE_PUBLISH_SCHEDULE": "*/5 * * * *"}, "SITE_PUBLISH_SCHEDULE"),
    ({"SITE_PUBLISH_SCHEDULE": "0 * * * * * ; rm"}, "SITE_PUBLISH_SCHEDULE"),
])
def test_a_wrong_site_setting_is_named(base, env, named):
    with pytest.raises(SettingsError, match=named):
        load_settings({**base, **env})
