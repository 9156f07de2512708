(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const live = document.body.classList.contains("live");
  const data = JSON.parse($("data").textContent);
  const list = $("rows");
  const grid = $("grid");
  const rows = Array.from(list.children);
  const keys = rows.map((row) => row.dataset.search);
  const search = $("q");
  const shown = $("shown");
  const empty = $("empty");
  const size = $("size");
  const compare = $("compare");
  const GAP = 12;
  const CAPTION = 32;
  let filter = "all";
  let review = "any";
  let view = [];
  let current = -1; // index into data of the current row
  let mode = "list";
  let cols = 1;
  let rowHeight = 1;
  let timer = 0;
  let painting = false;
  const cards = new Map(); // position in view -> card element
  const stateText = (state) => state.replace("-", " "); // "no-result": "no result"
  // A row with a result to look at: the comparison opens for nothing else.
  const comparable = (row) => Boolean(row.sha && (chosenTile(row).t || chosenTile(row).f));

  // ---- filters -------------------------------------------------------------
  const statusWanted = (status) =>
    filter === "all" || (filter === "attention" ? status !== "succeeded" : status === filter);
  function reviewWanted(row) {
    if (review === "any") return true;
    if (review === "undecided") return row.state === "undecided" || row.state === "stale";
    if (review === "changed") return row.changed;
    if (review.startsWith("check:")) return row.checks.includes(review.slice(6));
    return row.state === review;
  }
  function apply() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    view = [];
    for (let i = 0; i < rows.length; i++) {
      const hit =
        statusWanted(data[i].status) &&
        reviewWanted(data[i]) &&
        words.every((word) => keys[i].includes(word));
      if (rows[i].hidden === hit) rows[i].hidden = !hit;
      if (hit) view.push(i);
    }
    shown.textContent = view.length + " of " + rows.length + " shown";
    empty.hidden = view.length > 0;
    layout();
  }
  function pressOne(buttons, pressed) {
    for (const other of buttons) other.setAttribute("aria-pressed", String(other === pressed));
  }
  const statusButtons = document.querySelectorAll("[data-filter]");
  for (const button of statusButtons) {
    button.addEventListener("click", () => {
      filter = button.dataset.filter;
      pressOne(statusButtons, button);
      apply();
    });
  }
  const reviewButtons = document.querySelectorAll("[data-review]");
  for (const button of reviewButtons) {
    button.addEventListener("click", () => {
      review = button.dataset.review;
      pressOne(reviewButtons, button);
      apply();
    });
  }
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(apply, 120);
  });
  for (const chip of document.querySelectorAll("[data-search-for]")) {
    chip.addEventListener("click", () => {
      search.value = chip.dataset.searchFor;
      apply();
    });
  }

  // ---- the grid: only the cards near the viewport exist ---------------------
  const headerHeight = () => document.querySelector("header").offsetHeight;
  function layout() {
    if (mode !== "grid") return;
    const side = Number(size.value);
    cols = Math.max(1, Math.floor((grid.clientWidth + GAP) / (side + GAP)));
    rowHeight = side + CAPTION + GAP;
    grid.style.height = Math.ceil(view.length / cols) * rowHeight + "px";
    for (const card of cards.values()) card.remove();
    cards.clear();
    paint();
  }
  function paint() {
    painting = false;
    if (mode !== "grid") return;
    const top = grid.getBoundingClientRect().top;
    const first = Math.max(0, Math.floor(-top / rowHeight) - 2);
    const last = Math.ceil((window.innerHeight - top) / rowHeight) + 2;
    const from = first * cols;
    const to = Math.min(view.length, last * cols);
    for (const [at, card] of cards) {
      if (at < from || at >= to) {
        card.remove();
        cards.delete(at);
      }
    }
    const side = Number(size.value);
    const fresh = document.createDocumentFragment();
    for (let at = from; at < to; at++) {
      if (cards.has(at)) continue;
      const card = makeCard(view[at], side);
      card.style.left = (at % cols) * (side + GAP) + "px";
      card.style.top = Math.floor(at / cols) * rowHeight + "px";
      cards.set(at, card);
      fresh.append(card);
    }
    grid.append(fresh);
  }
  function schedulePaint() {
    if (!painting && mode === "grid") {
      painting = true;
      requestAnimationFrame(paint);
    }
  }
  function chosenTile(row) {
    // The candidate export publishes: the chosen of several outputs, else the first.
    return row.out[(row.choice || 1) - 1] || row.out[0];
  }
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function actions() {
    const acts = el("span", "acts");
    for (const [act, label, title] of [["approved", "✓", "approve (a)"], ["rejected", "✕", "reject (r)"], ["note", "…", "note (n)"]]) {
      const button = el("button", "", label);
      button.type = "button";
      button.dataset.act = act;
      button.title = title;
      acts.append(button);
    }
    return acts;
  }
  function makeCard(i, side) {
    const row = data[i];
    const card = el("div", "card" + (i === current ? " current" : ""));
    card.dataset.i = i;
    card.dataset.status = row.status;
    card.style.width = side + "px";
    const pic = el("div", "pic");
    pic.style.height = side + "px";
    const out = chosenTile(row);
    if (out.t) {
      const img = el("img");
      img.loading = "lazy";
      img.decoding = "async";
      img.src = out.t;
      img.alt = row.id;
      pic.append(img);
    } else {
      pic.append(el("div", "missing", out.n || "no output"));
    }
    card.append(pic);
    const cap = el("div", "cap");
    cap.append(el("i", "st"), el("b", "", row.id || "(no id)"));
    card.append(cap);
    const badge = el("span", "decision", stateText(row.state));
    badge.dataset.state = row.state;
    const marks = el("span", "marks");
    marks.append(badge);
    if (row.checks.length) marks.append(el("span", "flag", row.checks.join(" ")));
    card.append(marks);
    if (live) card.append(actions());
    card.title = row.note ? row.id + ": " + row.note : row.id;
    return card;
  }

  // ---- the current row, moving, views ----------------------------------------
  function setCurrent(i, reveal) {
    const before = current;
    current = i;
    for (const node of document.querySelectorAll(".current")) node.classList.remove("current");
    if (i < 0) return;
    rows[i].classList.add("current");
    for (const card of cards.values()) if (Number(card.dataset.i) === i) card.classList.add("current");
    if (reveal && before !== i) reveal_(i);
    if (!compare.hidden) fillCompare();
  }
  function reveal_(i) {
    if (mode === "list") {
      rows[i].scrollIntoView({ block: "nearest" });
      return;
    }
    const at = view.indexOf(i);
    if (at < 0) return;
    const y = grid.getBoundingClientRect().top + window.scrollY + Math.floor(at / cols) * rowHeight;
    const head = headerHeight();
    if (y < window.scrollY + head) window.scrollTo(0, y - head - GAP);
    else if (y + rowHeight > window.scrollY + window.innerHeight)
      window.scrollTo(0, y + rowHeight - window.innerHeight + GAP);
    paint();
  }
  function move(step) {
    if (!view.length) return;
    const at = view.indexOf(current);
    let next = at < 0 ? 0 : Math.min(view.length - 1, Math.max(0, at + step));
    if (!compare.hidden) {
      // The comparison moves to the next row with a result, or stays.
      next = at < 0 ? 0 : at + step;
      while (next >= 0 && next < view.length && !comparable(data[view[next]])) next += step;
      if (next < 0 || next >= view.length) return;
    }
    setCurrent(view[next], true);
  }
  function setMode(next) {
    mode = next;
    list.hidden = mode !== "list";
    grid.hidden = mode !== "grid";
    pressOne(document.querySelectorAll("[data-view]"), document.querySelector(`[data-view=${mode}]`));
    try {
      localStorage.setItem("batchedit-review-view", mode);
    } catch (e) {
      /* storage unavailable (file: pages in some browsers): the choice is not kept */
    }
    layout();
    if (current >= 0) reveal_(current);
  }
  for (const button of document.querySelectorAll("[data-view]")) {
    button.addEventListener("click", () => setMode(button.dataset.view));
  }
  size.addEventListener("input", layout);
  window.addEventListener("scroll", schedulePaint, { passive: true });
  window.addEventListener("resize", () => {
    document.documentElement.style.setProperty("--head", headerHeight() + 8 + "px");
    layout();
  });
  document.documentElement.style.setProperty("--head", headerHeight() + 8 + "px");

  // ---- decisions ----------------------------------------------------------------
  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box.timer);
    box.timer = setTimeout(() => (box.hidden = true), 4000);
  }
  function counts() {
    const tally = { any: data.length, undecided: 0, approved: 0, rejected: 0 };
    for (const row of data) {
      const key = row.state === "stale" ? "undecided" : row.state;
      tally[key] = (tally[key] || 0) + 1;
    }
    for (const button of reviewButtons) {
      if (button.dataset.review in tally) button.querySelector("b").textContent = tally[button.dataset.review];
    }
  }
  function show(i) {
    const row = data[i];
    const article = rows[i];
    const badge = article.querySelector(".decision");
    badge.dataset.state = row.state;
    badge.textContent = stateText(row.state);
    article.querySelector(".note").textContent = row.note;
    for (const figure of article.querySelectorAll("figure.cand")) {
      figure.classList.toggle("chosen", Number(figure.dataset.n) === row.choice);
    }
    const was = article.querySelector(".was");
    if (was && !row.was) was.remove();
    const side = Number(size.value);
    for (const [at, card] of cards) {
      if (Number(card.dataset.i) !== i) continue;
      const fresh = makeCard(i, side);
      fresh.style.left = card.style.left;
      fresh.style.top = card.style.top;
      card.replaceWith(fresh);
      cards.set(at, fresh);
    }
    if (!compare.hidden && current === i) fillCompare();
    counts();
  }
  async function problem(answer) {
    // The server answers {"error": "..."}; anything else (a proxy, a 401) as text.
    const text = await answer.text();
    try {
      return JSON.parse(text).error || text;
    } catch (e) {
      return text;
    }
  }
  async function decide(i, decision, note, choice) {
    if (i < 0) return;
    if (!live) {
      toast("This page is a copy: run `batchedit review RUN_DIR` to record decisions.");
      return;
    }
    const row = data[i];
    if (!row.out[0].t && !row.out[0].f) {
      toast(row.id + " has no result to decide on.");
      return;
    }
    const body = {
      id: row.id,
      sha256: row.sha,
      decision: decision,
      note: note === undefined ? row.note : note,
    };
    // Several candidates: the choice goes with every decision, so none drops it.
    if (row.out.length > 1) body.choice = choice === undefined ? row.choice : choice;
    let answer;
    try {
      answer = await fetch("api/decisions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (e) {
      toast("Not saved: the review server does not answer (" + e + ").");
      return;
    }
    if (!answer.ok) {
      toast("Not saved: " + (await problem(answer)));
      return;
    }
    const saved = await answer.json();
    row.state = saved.state;
    row.note = saved.note;
    row.choice = saved.choice;
    row.was = "";
    show(i);
  }
  function askNote(i) {
    if (i < 0) return;
    if (!live) return decide(i, "rejected");
    const box = $("notebox");
    $("n-id").textContent = data[i].id;
    // The box starts empty: a new note replaces the old one, shown read-only above it.
    const earlier = data[i].note || data[i].was;
    $("n-was").textContent = earlier;
    $("n-was-box").hidden = !earlier;
    $("n-text").value = "";
    box.returnValue = "";
    box.onclose = () => {
      if (box.returnValue === "approved" || box.returnValue === "rejected") {
        decide(i, box.returnValue, $("n-text").value);
      }
    };
    box.showModal();
    $("n-text").focus();
  }
  function choose(i, n) {
    // Choosing a candidate approves the row with it as the one to publish.
    if (i < 0) return;
    if (n > data[i].out.length || data[i].out.length < 2) return;
    decide(i, "approved", undefined, n);
  }
  function act(i, what, n) {
    setCurrent(i, false);
    if (what === "note") askNote(i);
    else if (what === "choose") choose(i, n);
    else decide(i, what);
  }
  for (const area of [list, grid, compare]) {
    area.addEventListener("click", (event) => {
      const button = event.target.closest("[data-act]");
      const holder = event.target.closest("[data-i]");
      const i = area === compare ? current : holder ? Number(holder.dataset.i) : -1;
      if (button && i >= 0) {
        act(i, button.dataset.act, Number(button.dataset.n));
        event.stopPropagation();
      } else if (area === grid && holder) {
        setCurrent(i, false);
        openCompare();
      } else if (area === list && holder && !event.target.closest("a,summary,button")) {
        setCurrent(i, false);
      }
    });
  }

  // ---- before/after, large -------------------------------------------------------
  let compareMode = "side";
  function largest(tile) {
    return tile ? tile.f || tile.t || "" : "";
  }
  function fillCompare() {
    const row = data[current];
    const before = largest(row.in[0]);
    const after = largest(chosenTile(row));
    for (const id of ["c-before", "s-before"]) setImage($(id), before);
    for (const id of ["c-after", "s-after"]) setImage($(id), after);
    $("c-id").textContent = row.id;
    $("c-status").textContent = row.status + (row.checks.length ? " · " + row.checks.join(", ") : "");
    $("c-state").textContent = stateText(row.state) + (row.note ? ": " + row.note : "");
    $("c-state").dataset.state = row.state;
    $("c-text").textContent = row.error || row.prompt;
  }
  function setImage(img, src) {
    if (src) img.src = src;
    else img.removeAttribute("src");
    img.hidden = !src;
  }
  function openCompare() {
    if (current < 0) return;
    if (!comparable(data[current])) {
      toast(data[current].id + " has no result to compare.");
      return;
    }
    fillCompare();
    compare.hidden = false;
  }
  function closeCompare() {
    compare.hidden = true;
    for (const id of ["c-before", "c-after", "s-before", "s-after"]) $(id).removeAttribute("src");
  }
  for (const button of compare.querySelectorAll("[data-mode]")) {
    button.addEventListener("click", () => {
      compareMode = button.dataset.mode;
      pressOne(compare.querySelectorAll("[data-mode]"), button);
      $("c-side").hidden = compareMode !== "side";
      $("c-slider").hidden = compareMode !== "slider";
    });
  }
  $("s-pos").addEventListener("input", () => {
    $("c-slider").style.setProperty("--pos", $("s-pos").value + "%");
  });
  $("c-close").addEventListener("click", closeCompare);
  $("c-prev").addEventListener("click", () => move(-1));
  $("c-next").addEventListener("click", () => move(1));
  $("keys").addEventListener("click", () => $("help").showModal());

  // ---- keyboard ---------------------------------------------------------------------
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target.closest && event.target.closest("input:not([type=range]),textarea,select,dialog");
    if (typing) return;
    const key = event.key;
    if (key === "Escape" && !compare.hidden) closeCompare();
    else if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "a") decide(current, "approved");
    else if (key === "r") decide(current, "rejected");
    else if (key === "n") askNote(current);
    else if (key === "Enter" && current >= 0) openCompare();
    else if (key === "g") setMode(mode === "grid" ? "list" : "grid");
    else if (/^[1-9]$/.test(key) && current >= 0 && data[current].out.length > 1) choose(current, Number(key));
    else if (key === "?") $("help").showModal();
    else return;
    event.preventDefault();
  });

  let saved = null;
  try {
    saved = localStorage.getItem("batchedit-review-view");
  } catch (e) {
    saved = null;
  }
  mode = saved === "grid" || saved === "list" ? saved : live ? "grid" : "list";
  apply();
  setMode(mode);
})();
