"""Where the client finds its key: $SILAB_API_KEY, then the user config file, then the local
server's data dir, first found wins; each source says why it had no key."""

from __future__ import annotations

import stat

import pytest

from client.config import ClientSettings


@pytest.fixture
def places(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    return {"config_file": tmp_path / "config.toml", "data_dir": data}


def settings(places, **values) -> ClientSettings:
    return ClientSettings(**{**places, **values})


def test_nothing_anywhere_names_every_place_tried(places) -> None:
    sources = settings(places, api_key=None).key_sources()
    assert [s.why for s in sources] == ["unset", "no such file", "no such file"]
    assert sources[1].where == str(places["config_file"])
    assert sources[2].where == str(places["data_dir"] / "admin.key")
    assert settings(places, api_key=None).key() is None


def test_the_data_dir_key_is_the_last_resort(places) -> None:
    (places["data_dir"] / "admin.key").write_text("silab_local\n")
    assert settings(places, api_key=None).key() == "silab_local"


def test_the_config_file_comes_before_the_data_dir(places) -> None:
    (places["data_dir"] / "admin.key").write_text("silab_local\n")
    written = settings(places).write_file(url="http://lab:8000", api_key="silab_mine")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    chosen = settings(places, api_key=None)
    assert chosen.key() == "silab_mine" and chosen.key_sources()[-1].why == "found"
    assert chosen.base_url() == "http://lab:8000"


def test_the_environment_comes_first(places) -> None:
    settings(places).write_file(url=None, api_key="silab_mine")
    chosen = settings(places, api_key="silab_env", url="http://other:1")
    assert chosen.key() == "silab_env" and chosen.base_url() == "http://other:1"


def test_a_config_file_without_a_key_says_so(places) -> None:
    places["config_file"].write_text('url = "http://lab:8000"\n')
    sources = settings(places, api_key=None).key_sources()
    assert sources[1].why == "no api_key in it"


def test_a_broken_config_file_is_reported_not_fatal_for_the_key(places) -> None:
    places["config_file"].write_text("api_key = \n")
    (places["data_dir"] / "admin.key").write_text("silab_local")
    chosen = settings(places, api_key=None)
    assert "not valid TOML" in chosen.key_sources()[1].why and chosen.key() == "silab_local"
