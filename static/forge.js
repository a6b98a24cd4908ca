// Small progressive enhancements; every page works without this file.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.value ?? source.textContent;
  const done = () => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = label), 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => { source.select(); document.execCommand("copy"); done(); });
  } else {
    source.select();
    document.execCommand("copy");
    done();
  }
});

// Code pages: #L12 or #L12-L20 highlights lines (a single line also by CSS :target, without
// this script); shift-click a second line number to select a range.
(() => {
  const table = document.querySelector(".code-table");
  if (!table) return;
  let anchor = null;
  const range = () => {
    const match = /^#L(\d+)(?:-L(\d+))?$/.exec(location.hash);
    if (!match) return null;
    const a = Number(match[1]), b = Number(match[2] || match[1]);
    return a <= b ? [a, b] : [b, a];
  };
  const mark = (scroll) => {
    table.querySelectorAll("tr.hl").forEach((row) => row.classList.remove("hl"));
    const lines = range();
    if (!lines) return;
    for (let n = lines[0]; n <= lines[1]; n++) document.getElementById("L" + n)?.classList.add("hl");
    if (scroll) document.getElementById("L" + lines[0])?.scrollIntoView({ block: "center" });
    anchor = lines[0];
  };
  table.addEventListener("click", (event) => {
    const link = event.target.closest("td.ln a, td.num a");
    if (!link) return;
    const line = Number(link.hash.slice(2));
    if (event.shiftKey && anchor) {
      event.preventDefault();
      const [a, b] = anchor <= line ? [anchor, line] : [line, anchor];
      history.replaceState(null, "", `#L${a}-L${b}`);
      mark(false);
    } else {
      anchor = line;
    }
  });
  window.addEventListener("hashchange", () => mark(false));
  mark(true);
})();

// Headings in rendered Markdown carry a user-content- prefix; follow #name links to them.
(() => {
  const name = decodeURIComponent(location.hash.slice(1));
  if (name && !document.getElementById(name)) {
    document.getElementById("user-content-" + name)?.scrollIntoView();
  }
})();

// Branch and tag pickers: their names are loaded when first opened (a repository may have
// thousands); type to filter, Escape or a click elsewhere closes them.
const filterList = (input) => {
  const list = input.parentElement.querySelector(input.dataset.filterList);
  const query = input.value.trim().toLowerCase();
  list?.querySelectorAll("li:not(.ref-group)").forEach((item) => {
    item.hidden = query !== "" && !item.textContent.toLowerCase().includes(query);
  });
};
document.addEventListener("input", (event) => {
  const input = event.target.closest("[data-filter-list]");
  if (input) filterList(input);
});
const refLink = (menu, kind, name, isDefault) => {
  const item = document.createElement("li");
  const link = document.createElement("a");
  const spec = menu.dataset.path ? `${name}/${menu.dataset.path}` : name;
  link.href = `${menu.dataset.base}/${menu.dataset.kind}/${spec.split("/").map(encodeURIComponent).join("/")}`;
  link.textContent = name;
  if (menu.dataset.currentKind === kind && menu.dataset.currentName === name) link.className = "selected";
  if (isDefault) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "default";
    link.append(" ", badge);
  }
  item.append(link);
  return item;
};
const loadRefs = async (menu) => {
  if (menu.dataset.loaded) return;
  menu.dataset.loaded = "loading";
  try {
    const response = await fetch(menu.dataset.refsUrl, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`refs: ${response.status}`);
    const refs = await response.json();
    const items = [];
    for (const [label, kind, names] of [["Branches", "branch", refs.branches], ["Tags", "tag", refs.tags]]) {
      if (!names.length) continue;
      const group = document.createElement("li");
      group.className = "ref-group";
      group.textContent = label;
      items.push(group, ...names.map((name) => refLink(menu, kind, name, kind === "branch" && name === refs.default)));
    }
    menu.querySelector(".ref-menu-list").replaceChildren(...items);
    menu.dataset.loaded = "yes";
    filterList(menu.querySelector("[data-filter-list]"));
  } catch (error) {
    delete menu.dataset.loaded; // the links to every branch and tag stay; the next opening tries again
  }
};
document.addEventListener("toggle", (event) => {
  const menu = event.target;
  if (!menu.matches?.("details.ref-picker") || !menu.open) return;
  menu.querySelector("input")?.focus();
  loadRefs(menu);
}, true);
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.ref-picker[open], details.download[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.open = false;
  });
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.ref-picker[open], details.download[open]").forEach((menu) => {
    menu.open = false;
  });
});

// A change's files: each file's diff is fetched when its box comes near the viewport or is
// opened; "+" on a line opens a comment form under it. Without this script each file links to
// a page of its own diff, where "+" links open the same form.
(() => {
  const list = document.querySelector(".change-files");
  if (!list) return;
  const load = (box) => {
    if (box.dataset.loaded || !box.open) return;
    box.dataset.loaded = "1";
    const body = box.querySelector(".diff-body");
    body.classList.add("loading");
    fetch(list.dataset.diffUrl + "&path=" + encodeURIComponent(box.dataset.path), { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then((html) => {
        body.innerHTML = html; // a fragment rendered (and escaped) by forge itself
        body.classList.remove("loading");
        const diff = body.querySelector(".change-diff");
        if (diff?.dataset.counts) box.querySelector(".counts").textContent = diff.dataset.counts;
        if (location.hash.length > 1 && box.contains(document.getElementById(location.hash.slice(1)))) {
          document.getElementById(location.hash.slice(1)).scrollIntoView({ block: "center" });
        }
      })
      .catch(() => {
        delete box.dataset.loaded;
        body.classList.remove("loading");
      });
  };
  const boxes = list.querySelectorAll("details.lazy-diff");
  if ("IntersectionObserver" in window) {
    const observer = new IntersectionObserver((entries) => {
      entries.forEach((entry) => { if (entry.isIntersecting) load(entry.target); });
    }, { rootMargin: "800px 0px" });
    boxes.forEach((box) => observer.observe(box));
  } else {
    boxes.forEach(load);
  }
  list.addEventListener("toggle", (event) => { if (event.target.matches?.("details.lazy-diff")) load(event.target); }, true);
  list.addEventListener("click", (event) => {
    const cancel = event.target.closest("button.cancel-comment");
    if (cancel) { cancel.closest("tr.comment-row")?.remove(); return; }
    const plus = event.target.closest(".add-comment");
    const template = document.getElementById("inline-comment-template");
    if (!plus || !template) return;
    event.preventDefault();
    const row = plus.closest("tr");
    const key = plus.dataset.side + ":" + plus.dataset.line;
    const open = row.nextElementSibling;
    if (open?.classList.contains("comment-row") && open.dataset.key === key) {
      open.querySelector("textarea").focus();
      return;
    }
    const formRow = template.content.firstElementChild.cloneNode(true);
    formRow.dataset.key = key;
    const box = plus.closest("details.lazy-diff");
    const set = (name, value) => { formRow.querySelector(`[name="c-${name}"]`).value = value; };
    set("path", plus.closest("table").dataset.path);
    set("side", plus.dataset.side);
    set("line", plus.dataset.line);
    set("next", location.pathname + location.search + "#" + box.id);
    formRow.querySelector(".line-number").textContent = plus.dataset.line;
    formRow.querySelector(".side-label").textContent = plus.dataset.side === "LEFT" ? "the base side of " : "";
    let after = row;
    while (after.nextElementSibling?.classList.contains("thread-row")) after = after.nextElementSibling;
    after.after(formRow);
    formRow.querySelector("textarea").focus();
  });
})();
