"""A server started as `make run` starts it: a page opened during the warm start shows its progress, then itself."""

from browser_kit import assert_no_exception
from playwright.sync_api import expect
from server_kit import running_server, server_env

MAP = ".st-key-attn_one_head .heatmaplayer"  # Attention's first map, drawn


def test_a_page_opened_during_the_warm_start_shows_its_progress_then_the_page(page, tmp_path, real_model_cache):
    release = tmp_path / "release"
    launcher = ["tests/browser/gated_start.py", str(release)]
    with running_server(launcher, tmp_path / "server.log", server_env(real_model_cache)) as url:
        page.goto(f"{url}/attention")
        expect(page.get_by_text("The server is starting")).to_be_visible()
        expect(page.get_by_text("Importing torch and transformers")).to_be_visible()
        release.touch()
        expect(page.locator(MAP)).to_be_visible(timeout=180_000)
        expect(page.get_by_text("The server is starting")).to_have_count(0)
        assert_no_exception(page)
        assert not page.dialogs
