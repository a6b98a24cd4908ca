"""A person in a real browser (Chromium, through Playwright) signs up, makes a repository,
pushes to it with git, and reads their code: README, folders, a file with a line anchor, the
history and a commit's diff. Screenshots of each page land in tests/artifacts/.

Chromium comes from the system (Debian's `chromium` package), not from `playwright install`.
"""

from __future__ import annotations

import re

from conftest import authed
from playwright.sync_api import expect
from support.browser import shot, watch_console

README = """# Weather station

Reads the **sensors** every minute and keeps a log.

| sensor | unit |
|--------|------|
| temperature | °C |
| pressure | hPa |

- [x] read sensors
- [ ] upload to the cloud

```python
print("sunny")
```

See [the code](src/station.py).
"""

STATION = '''"""The weather station's main loop."""

import time

INTERVAL = 60


def read(sensor):
    """One reading from a sensor."""
    return sensor.value()


def main(sensors):
    while True:
        for sensor in sensors:
            print(sensor.name, read(sensor))
        time.sleep(INTERVAL)
'''


def test_sign_up_create_push_and_browse_the_code(browser, live_server, git, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = watch_console(page)

    # Sign up through the real form.
    page.goto(f"{live_server}/signup")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=email]", "dana@example.org")
    page.fill("input[name=password]", "a long enough password")
    page.click("main button[type=submit]")
    expect(page.locator(".who")).to_have_text("dana")

    # Create a repository through the /new form.
    page.goto(f"{live_server}/new")
    page.fill("input[name=name]", "station")
    page.fill("input[name=description]", "A weather station that logs its sensors")
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{live_server}/dana/station")
    expect(page.get_by_text("This repository is empty")).to_be_visible()

    # A token from the tokens page, and a real push with it.
    page.goto(f"{live_server}/settings/tokens")
    page.fill("input[name=label]", "laptop")
    page.check("input[value=repo]")
    page.click("text=Generate token")
    secret = page.input_value("#new-token")
    work = git.init(
        tmp_path / "station", {"README.md": README, "src/station.py": STATION}, "Start the station"
    )
    git.commit(work, {"src/station.py": STATION.replace("60", "30")}, "Read twice a minute")
    git.commit(work, {"docs/setup.md": "# Setup\n\nPlug it in.\n"}, "Document the setup")
    git.run(
        "push", "-q", authed(f"{live_server}/dana/station.git", "dana", secret), "main", cwd=work
    )

    # The home page: files with their last commits, and the README rendered.
    page.goto(f"{live_server}/dana/station")
    readme = page.locator(".readme .markdown-body")
    expect(readme.locator("h1")).to_have_text(re.compile("Weather station"))
    expect(readme.locator("table td").first).to_have_text("temperature")
    expect(readme.locator("input[type=checkbox]")).to_have_count(2)
    expect(readme.locator(".highlight .nb")).to_have_text("print")
    expect(page.locator(".files .file-name a")).to_have_text(["docs", "src", "README.md"])
    row = page.locator(".files tr", has=page.locator("a", has_text="src"))
    expect(row.locator(".file-commit")).to_have_text("Read twice a minute")
    shot(page, "home")

    # Folder, then file, by clicking.
    page.click(".files a:text-is('src')")
    expect(page).to_have_url(f"{live_server}/dana/station/tree/main/src")
    shot(page, "tree")
    page.click(".files a:text-is('station.py')")
    expect(page).to_have_url(f"{live_server}/dana/station/blob/main/src/station.py")
    expect(page.locator(".code-table .kn").first).to_have_text("import")
    expect(page.locator("#L8 .lc")).to_have_text("def read(sensor):")
    shot(page, "blob")

    # A line anchor highlights its line; a range highlights every line of it.
    page.click("#L3 .ln a")
    expect(page).to_have_url(re.compile(r"#L3$"))
    expect(page.locator("#L3")).to_have_class(re.compile(r"\bhl\b"))
    page.click("#L5 .ln a", modifiers=["Shift"])
    expect(page).to_have_url(re.compile(r"#L3-L5$"))
    expect(page.locator("tr.hl")).to_have_count(3)
    page.goto(f"{live_server}/dana/station/blob/main/src/station.py#L12-L14")
    expect(page.locator("tr.hl")).to_have_count(3)
    expect(page.locator("#L12")).to_have_class(re.compile(r"\bhl\b"))
    background = page.locator("#L13 .lc").evaluate("e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(255, 248, 197)"
    shot(page, "blob-range")

    # The file's history, then a commit's diff, by clicking.
    page.click("text=History")
    expect(page.locator(".commit-list .commit-title")).to_have_text(
        ["Read twice a minute", "Start the station"]
    )
    shot(page, "commits")
    page.click(".commit-list .commit-title:text-is('Read twice a minute')")
    expect(page.locator(".commit-summary")).to_have_text("Read twice a minute")
    expect(page.locator(".diff-table tr.del .lc")).to_have_text(["-INTERVAL = 60"])
    expect(page.locator(".diff-table tr.add .lc")).to_have_text(["+INTERVAL = 30"])
    expect(page.locator(".diff-table tr.add .mi")).to_have_text("30")
    shot(page, "commit")
    page.click("text=Split")
    expect(page.locator(".diff-table.split td.num.add")).to_have_text("5")
    shot(page, "commit-split")

    # The branch picker opens and filters; blame shows who wrote what.
    page.goto(f"{live_server}/dana/station/blame/main/src/station.py")
    expect(page.locator(".blame-commit").first).to_contain_text("Start the station")
    shot(page, "blame")

    assert errors == [], errors
    context.close()


def test_the_pages_fit_a_phone(browser, live_server, hosted_repo, git, tmp_path):
    repo = hosted_repo("erin", "notes")
    work = git.init(tmp_path / "notes", {"README.md": README, "src/station.py": STATION})
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = watch_console(page)
    for name, path in (
        ("phone-home", "/erin/notes"),
        ("phone-blob", "/erin/notes/blob/main/src/station.py"),
        ("phone-commit", "/erin/notes/commit/main"),
    ):
        page.goto(live_server + path)
        # Nothing but the code itself scrolls sideways.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
        shot(page, name)
    page.goto(f"{live_server}/erin/notes")
    page.click(".ref-picker summary")
    expect(page.locator(".ref-menu")).to_be_visible()
    page.fill(".ref-menu input", "zzz")
    expect(page.locator(".ref-menu-list a:visible")).to_have_count(0)
    page.fill(".ref-menu input", "ma")
    expect(page.locator(".ref-menu-list a:visible")).to_have_count(1)
    assert errors == [], errors
    context.close()


def test_the_ref_picker_loads_branches_when_opened_and_keeps_the_path(
    browser, live_server, hosted_repo, git, tmp_path
):
    repo = hosted_repo("erin", "notes")
    work = git.init(tmp_path / "notes", {"README.md": README, "src/station.py": STATION})
    git.run("branch", "feature/wind", cwd=work)
    git.run("tag", "v1", cwd=work)
    git.run("push", "-q", repo.push_url, "main", "feature/wind", "v1", cwd=work)
    page = browser.new_page()
    page.set_default_timeout(30_000)
    errors = watch_console(page)
    page.goto(f"{live_server}/erin/notes/blob/main/src/station.py")
    # The page does not carry the names; opening the picker fetches them.
    assert "feature/wind" not in page.content()
    page.click(".ref-picker summary")
    expect(page.locator(".ref-menu-list a", has_text="feature/wind")).to_be_visible()
    expect(page.locator(".ref-menu-list a.selected")).to_have_text(re.compile(r"^main\s+default$"))
    expect(page.locator(".ref-menu-list .ref-group")).to_have_text(["Branches", "Tags"])
    page.fill(".ref-menu input", "wind")
    expect(page.locator(".ref-menu-list a:visible")).to_have_count(1)
    shot(page, "ref-picker-loaded")
    page.click(".ref-menu-list a:visible")
    # The same file on the chosen branch.
    expect(page).to_have_url(f"{live_server}/erin/notes/blob/feature/wind/src/station.py")
    expect(page.locator(".ref-picker .ref-name")).to_have_text("feature/wind")
    assert errors == [], errors
    page.close()


def test_a_folder_lists_its_files_in_the_same_columns_as_the_root(
    browser, live_server, hosted_repo, git, tmp_path
):
    repo = hosted_repo("erin", "notes")
    files = {"README.md": README, "src/station.py": STATION, "src/sensors/wind.py": "w = 1\n"}
    work = git.init(tmp_path / "notes", files)
    git.run("push", "-q", repo.push_url, "main", cwd=work)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(30_000)
    errors = watch_console(page)

    def columns(path: str) -> list[list[float]]:
        """Left edge and width of each cell of each row of the file list."""
        page.goto(live_server + path)
        return page.eval_on_selector_all(
            "table.files tr",
            "rows => rows.map(r => [...r.cells].map(c => {"
            " const box = c.getBoundingClientRect(); return [box.x, box.width]; }))",
        )

    root = columns("/erin/notes")
    folder = columns("/erin/notes/tree/main/src")
    shot(page, "folder-listing")
    # The `..` row and every entry have the four cells of the root's rows, at the same places.
    assert len(folder) == 3  # .., sensors, station.py
    for row in folder:
        assert row == root[0], (row, root[0])
    # The name column keeps its share and the age column its fixed width.
    x, width = root[0][3]
    assert round(width) == 130
    assert page.locator("tr.up td.file-name a").inner_text() == ".."
    assert errors == [], errors
    page.close()
