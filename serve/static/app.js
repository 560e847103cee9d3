// styledex web page: plain JS, no build step, talks only to this server's API.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const params = new URLSearchParams(window.location.search);
  const PAGE_SIZE = clampInt(params.get("per_page"), 1, 200, 24);

  const state = {
    mode: "style", // style | content | mix
    weight: 0.5, // style weight in a mix
    k: 12,
    collapse: false, // fold near-duplicates (the checkbox)
    sameSubject: false, // style search: rank the query's own subject in other looks by style alone (the checkbox)
    sameLook: false, // content search: rank other subjects in the query's own look by content alone (the checkbox)
    query: null, // {type: "item", id, name} | {type: "file", file, url}
    offset: 0,
    total: 0,
    kind: "",
    searchSeq: 0,
    catalogSeq: 0,
    explain: null, // {controller, url, opener, match}
  };

  // -- small helpers ----------------------------------------------------------------------------------------
  function clampInt(text, lo, hi, fallback) {
    const n = Number.parseInt(text, 10);
    return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : fallback;
  }

  function basename(path) {
    if (!path) return "";
    const parts = String(path).split(/[\\/]/);
    return parts[parts.length - 1] || String(path);
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmtWeight(w) {
    return String(Number(w.toFixed(2)));
  }

  function spaceParam() {
    if (state.mode === "mix") {
      return `style:${fmtWeight(state.weight)},content:${fmtWeight(1 - state.weight)}`;
    }
    return state.mode;
  }

  function spaceLabel() {
    if (state.mode === "mix") {
      return `mix: style ${fmtWeight(state.weight)} · content ${fmtWeight(1 - state.weight)}`;
    }
    return state.mode;
  }

  function thumbUrl(id) {
    return `/items/${encodeURIComponent(id)}/thumbnail`;
  }

  // -- errors -----------------------------------------------------------------------------------------------
  // FastAPI errors are JSON {"detail": ...}: a string, or a list of validation errors {loc, msg}.
  function formatDetail(detail) {
    if (detail === undefined || detail === null) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((d) => {
          if (d && typeof d === "object") {
            const loc = Array.isArray(d.loc) ? d.loc.filter((p) => !["body", "query", "path"].includes(p)) : [];
            const msg = d.msg || JSON.stringify(d);
            return loc.length ? `${loc.join(".")}: ${msg}` : msg;
          }
          return String(d);
        })
        .join("; ");
    }
    if (typeof detail === "object" && detail.message) return String(detail.message);
    return JSON.stringify(detail);
  }

  async function responseError(resp, what) {
    let reason = "";
    const type = resp.headers.get("content-type") || "";
    try {
      if (type.includes("json")) {
        const body = await resp.json();
        reason = formatDetail(body && "detail" in body ? body.detail : body);
      } else {
        reason = (await resp.text()).trim().slice(0, 300);
      }
    } catch (_) {
      /* the status line says enough */
    }
    const status = `${resp.status}${resp.statusText ? " " + resp.statusText : ""}`;
    const err = new Error(`${what} failed (${status})${reason ? ": " + reason : "."}`);
    err.status = resp.status;
    return err;
  }

  function networkMessage(err, what) {
    if (err && err.status) return err.message;
    return `${what} failed: could not reach the server (${err && err.message ? err.message : err}).`;
  }

  async function fetchJSON(url, options, what) {
    const resp = await fetch(url, options);
    if (!resp.ok) throw await responseError(resp, what);
    return resp.json();
  }

  function showError(message) {
    $("error-text").textContent = message;
    $("error").hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error-text").textContent = "";
  }

  // -- header -----------------------------------------------------------------------------------------------
  async function loadHealth() {
    try {
      const health = await fetchJSON("/health", {}, "Reading the catalog size");
      const n = Number(health.items);
      $("item-count").textContent = String(n);
      $("item-count-label").textContent = n === 1 ? "item in the catalog" : "items in the catalog";
    } catch (err) {
      $("item-count").textContent = "?";
      showError(networkMessage(err, "Reading the catalog size"));
    }
  }

  // -- catalog grid -----------------------------------------------------------------------------------------
  function thumbImage(id, name) {
    const img = el("img", { src: thumbUrl(id), alt: `Thumbnail of ${name}`, decoding: "async" });
    img.addEventListener("error", () => {
      img.replaceWith(el("span", { class: "thumb-missing", text: "no preview", "aria-label": `No preview of ${name}` }));
    });
    return img;
  }

  async function loadCatalog() {
    const seq = ++state.catalogSeq;
    const grid = $("catalog-grid");
    grid.setAttribute("aria-busy", "true");
    const q = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE_SIZE) });
    if (state.kind) q.set("kind", state.kind);
    try {
      const page = await fetchJSON(`/items?${q}`, {}, "Listing the catalog");
      if (seq !== state.catalogSeq) return;
      state.total = Number(page.total) || 0;
      renderCatalog(page.items || []);
    } catch (err) {
      if (seq !== state.catalogSeq) return;
      showError(networkMessage(err, "Listing the catalog"));
      $("page-info").textContent = "The catalog could not be listed.";
    } finally {
      if (seq === state.catalogSeq) grid.removeAttribute("aria-busy");
    }
  }

  function renderCatalog(items) {
    const grid = $("catalog-grid");
    grid.replaceChildren();
    for (const item of items) {
      const name = basename(item.path) || `item ${item.id}`;
      const failed = item.status && item.status !== "ok";
      const label = failed
        ? `${name}: could not be read (${item.error || "failed"})`
        : `Find more like ${name} (item ${item.id}, ${item.kind || "item"})`;
      const button = el(
        "button",
        {
          type: "button",
          class: "catalog-item",
          "data-testid": "catalog-item",
          "data-id": String(item.id),
          "data-kind": item.kind || "",
          title: failed ? label : item.path,
          "aria-label": label,
          "aria-pressed": isCurrentItem(item.id) ? "true" : "false",
          disabled: failed,
          onclick: () => setItemQuery(item.id, name),
        },
        failed ? el("span", { class: "thumb-missing", text: "failed" }) : thumbImage(item.id, name),
        el("span", { class: "card-name" }, name),
        item.kind === "video" ? el("span", { class: "badge", text: "video" }) : null,
      );
      grid.append(el("li", {}, button));
    }
    if (!items.length) {
      grid.append(el("li", { class: "empty", text: "Nothing here yet: add items with `styledex add PATH`." }));
    }
    const first = state.total ? state.offset + 1 : 0;
    const last = state.offset + items.length;
    $("page-info").textContent = state.total ? `${first}–${last} of ${state.total}` : "0 items";
    $("page-prev").disabled = state.offset <= 0;
    $("page-next").disabled = last >= state.total;
  }

  function isCurrentItem(id) {
    return !!state.query && state.query.type === "item" && state.query.id === id;
  }

  function markCurrentItem() {
    for (const b of $("catalog-grid").querySelectorAll(".catalog-item")) {
      b.setAttribute("aria-pressed", isCurrentItem(Number(b.dataset.id)) ? "true" : "false");
    }
  }

  // -- the query --------------------------------------------------------------------------------------------
  function setItemQuery(id, name) {
    dropFileQuery();
    state.query = { type: "item", id: Number(id), name };
    const media = $("query-media");
    media.replaceChildren(thumbImage(id, name));
    $("query-name").textContent = `${name} (item ${id})`;
    $("query").hidden = false;
    markCurrentItem();
    runSearch();
  }

  function setFileQuery(file) {
    if (!file) return;
    dropFileQuery();
    const url = URL.createObjectURL(file);
    state.query = { type: "file", file, url };
    const media = $("query-media");
    const isVideo = (file.type || "").startsWith("video/");
    const isImage = (file.type || "").startsWith("image/");
    if (isVideo) {
      media.replaceChildren(el("video", { src: url, muted: true, controls: true, "aria-label": `Uploaded video ${file.name}` }));
    } else if (isImage) {
      const img = el("img", { src: url, alt: `Uploaded image ${file.name}` });
      img.addEventListener("error", () => img.replaceWith(el("span", { class: "thumb-missing", text: "no preview" })));
      media.replaceChildren(img);
    } else {
      media.replaceChildren(el("span", { class: "thumb-missing", text: "file" }));
    }
    $("query-name").textContent = `${file.name} (uploaded, ${formatBytes(file.size)})`;
    $("query").hidden = false;
    markCurrentItem();
    runSearch();
  }

  function dropFileQuery() {
    if (state.query && state.query.type === "file" && state.query.url) URL.revokeObjectURL(state.query.url);
  }

  function clearQuery() {
    dropFileQuery();
    state.query = null;
    state.searchSeq++;
    $("query").hidden = true;
    $("query-media").replaceChildren();
    $("results").replaceChildren();
    delete $("results").dataset.space;
    delete $("results").dataset.query;
    $("results-status").textContent = "Pick a file or click a catalog item to search.";
    markCurrentItem();
  }

  function formatBytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  function queryLabel() {
    const q = state.query;
    if (!q) return "";
    return q.type === "item" ? q.name || `item ${q.id}` : q.file.name;
  }

  function queryKey(q) {
    return q.type === "item" ? `item:${q.id}` : `file:${q.file.name}`;
  }

  // -- search -----------------------------------------------------------------------------------------------
  async function runSearch() {
    const q = state.query;
    if (!q) return;
    const seq = ++state.searchSeq;
    const space = spaceParam();
    const what = q.type === "item" ? "Search" : "Searching the uploaded file";
    const status = $("results-status");
    const results = $("results");
    status.textContent = q.type === "file" ? "Embedding the upload and searching…" : "Searching…";
    results.setAttribute("aria-busy", "true");
    const started = performance.now();
    try {
      let body;
      if (q.type === "item") {
        const p = new URLSearchParams({ space, k: String(state.k) });
        if (state.collapse) p.append("collapse", "true");
        if (state.sameSubject) p.append("same_subject", "true");
        if (state.sameLook) p.append("same_look", "true");
        body = await fetchJSON(`/items/${encodeURIComponent(q.id)}/similar?${p}`, {}, what);
      } else {
        const form = new FormData();
        form.append("file", q.file, q.file.name);
        form.append("space", space);
        form.append("k", String(state.k));
        if (state.collapse) form.append("collapse", "true");
        if (state.sameSubject) form.append("same_subject", "true");
        if (state.sameLook) form.append("same_look", "true");
        body = await fetchJSON("/search", { method: "POST", body: form }, what);
      }
      if (seq !== state.searchSeq) return;
      clearError();
      const list = body.results || [];
      renderResults(list);
      const ms = Math.round(performance.now() - started);
      status.textContent =
        `${list.length} result${list.length === 1 ? "" : "s"} for ${queryLabel()} by ${spaceLabel()} (${ms} ms).` +
        (list.length ? " Press “why?” on a result to see the match explained." : "");
      results.dataset.space = space;
      results.dataset.query = queryKey(q);
    } catch (err) {
      if (seq !== state.searchSeq) return;
      results.replaceChildren();
      delete results.dataset.space;
      delete results.dataset.query;
      status.textContent = "No results: the search failed (see the message above).";
      showError(networkMessage(err, what));
    } finally {
      if (seq === state.searchSeq) results.removeAttribute("aria-busy");
    }
  }

  function renderResults(list) {
    const grid = $("results");
    grid.replaceChildren();
    list.forEach((r, i) => {
      const name = basename(r.path) || `item ${r.id}`;
      const score = Number(r.score);
      const details = [];
      if (r.kind === "video" && r.time !== undefined && r.time !== null) {
        details.push(
          el("span", { class: "frame-time", "data-testid": "frame-time" }, `best frame at ${Number(r.time).toFixed(2)} s`),
        );
      }
      if (r.duplicates && r.duplicates.length) {
        const n = r.duplicates.length;
        details.push(
          el("span", { class: "per-space", "data-testid": "duplicates", title: r.duplicates.map((id) => `#${id}`).join(" ") },
            `+${n} near-duplicate${n === 1 ? "" : "s"}`),
        );
      }
      if (r.scores && Object.keys(r.scores).length > 1) {
        const parts = Object.entries(r.scores).map(([s, v]) => `${s} ${Number(v).toFixed(3)}`);
        details.push(el("span", { class: "per-space" }, parts.join(" · ")));
      }
      const card = el(
        "li",
        { class: "card result-card", "data-testid": "result-card", "data-id": String(r.id), "data-kind": r.kind || "" },
        el(
          "button",
          {
            type: "button",
            class: "thumb-button",
            title: `Search with ${name} as the query`,
            "aria-label": `Result ${i + 1}: ${name}. Search with it as the query`,
            onclick: () => setItemQuery(r.id, name),
          },
          thumbImage(r.id, name),
        ),
        el(
          "div",
          { class: "card-body" },
          el("span", { class: "card-name", title: r.path || "" }, `${i + 1}. ${name}`),
          el(
            "span",
            { class: "score-line" },
            el("span", { class: "score", "data-testid": "score", title: "cosine similarity" }, Number.isFinite(score) ? score.toFixed(3) : "?"),
            r.kind === "video" ? el("span", { class: "badge", text: "video" }) : null,
          ),
          ...details,
          el(
            "button",
            {
              type: "button",
              class: "why-button",
              "data-testid": "why-button",
              "aria-label": `Why does ${name} match?`,
              onclick: (ev) => openExplain(r, name, ev.currentTarget),
            },
            "why?",
          ),
        ),
      );
      grid.append(card);
    });
    if (!list.length) grid.append(el("li", { class: "empty", text: "No matches: the catalog has no other items." }));
  }

  // -- explanations -----------------------------------------------------------------------------------------
  function explainSpace() {
    return $("explain-content").checked ? "content" : "style";
  }

  function openExplain(result, name, opener) {
    const modal = $("explain-modal");
    const defaultSpace = state.mode === "mix" ? (state.weight >= 0.5 ? "style" : "content") : state.mode;
    $(defaultSpace === "content" ? "explain-content" : "explain-style").checked = true;
    state.explain = { controller: null, url: null, opener, match: { id: result.id, name } };
    $("explain-title").textContent = `Why does ${name} match ${state.query ? queryLabel() : "the query"}?`;
    if (!modal.open) modal.showModal();
    loadExplain();
  }

  async function loadExplain() {
    const ex = state.explain;
    const q = state.query;
    if (!ex || !q) return;
    if (ex.controller) ex.controller.abort();
    releaseExplainImage();
    const controller = new AbortController();
    ex.controller = controller;
    const space = explainSpace();
    const img = $("explain-image");
    const loading = $("explain-loading");
    const error = $("explain-error");
    img.hidden = true;
    img.removeAttribute("src");
    error.hidden = true;
    loading.hidden = false;
    $("explain-caption").textContent =
      space === "style"
        ? "The query and the match, each rendered in the other's style, and which VGG layers' style statistics agree most."
        : "The query and the match, each rendered in the other's style, and a heat map of where their content corresponds.";
    const what = "The explanation";
    try {
      let resp;
      if (q.type === "item") {
        const p = new URLSearchParams({ query: String(q.id), match: String(ex.match.id), space });
        resp = await fetch(`/explain?${p}`, { signal: controller.signal });
      } else {
        const form = new FormData();
        form.append("file", q.file, q.file.name);
        form.append("match", String(ex.match.id));
        form.append("space", space);
        resp = await fetch("/explain", { method: "POST", body: form, signal: controller.signal });
      }
      if (!resp.ok) throw await responseError(resp, what);
      const blob = await resp.blob();
      if (controller.signal.aborted || state.explain !== ex) return;
      if (!blob.type.startsWith("image/")) throw new Error(`${what} failed: the server sent ${blob.type || "no image"}.`);
      ex.url = URL.createObjectURL(blob);
      img.alt =
        `Explanation of why ${ex.match.name} matches ${queryLabel()} by ${space}: the two images, each in the other's style, ` +
        (space === "style" ? "and the agreement of their style statistics per VGG layer." : "and a heat map of corresponding regions.");
      await new Promise((resolve, reject) => {
        img.onload = resolve;
        img.onerror = () => reject(new Error(`${what} could not be displayed: the image is damaged.`));
        img.src = ex.url;
      });
      if (state.explain !== ex || controller.signal.aborted) return;
      loading.hidden = true;
      img.hidden = false;
    } catch (err) {
      if (controller.signal.aborted || state.explain !== ex) return;
      loading.hidden = true;
      error.textContent = networkMessage(err, what);
      error.hidden = false;
    }
  }

  function releaseExplainImage() {
    const ex = state.explain;
    if (ex && ex.url) {
      URL.revokeObjectURL(ex.url);
      ex.url = null;
    }
  }

  function onExplainClosed() {
    const ex = state.explain;
    if (!ex) return;
    if (ex.controller) ex.controller.abort();
    releaseExplainImage();
    state.explain = null;
    $("explain-image").hidden = true;
    $("explain-image").removeAttribute("src");
    $("explain-loading").hidden = true;
    if (ex.opener && document.contains(ex.opener)) ex.opener.focus();
  }

  // -- controls ---------------------------------------------------------------------------------------------
  function updateMixText() {
    const w = state.weight;
    $("mix-weight-text").textContent = `style ${fmtWeight(w)} · content ${fmtWeight(1 - w)}`;
    $("mix-weight").setAttribute("aria-valuetext", `style ${Math.round(w * 100)} percent`);
  }

  function updateModeUi() {
    // The slider stays usable in every mode: moving it switches to Mix.
    $("mix-row").classList.toggle("inactive", state.mode !== "mix");
  }

  function wire() {
    for (const radio of document.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener("change", () => {
        if (!radio.checked) return;
        state.mode = radio.value;
        updateModeUi();
        runSearch();
      });
    }
    const slider = $("mix-weight");
    slider.addEventListener("input", () => {
      state.weight = Number(slider.value);
      updateMixText();
    });
    slider.addEventListener("change", () => {
      state.weight = Number(slider.value);
      updateMixText();
      if (state.mode !== "mix") {
        state.mode = "mix";
        $("mode-mix").checked = true;
        updateModeUi();
      }
      runSearch();
    });
    const kInput = $("k-input");
    kInput.addEventListener("change", () => {
      const n = Number.parseInt(kInput.value, 10);
      state.k = Number.isFinite(n) ? n : kInput.value; // out-of-range values go to the server, which says why
      runSearch();
    });

    const collapseInput = $("collapse-input");
    collapseInput.addEventListener("change", () => {
      state.collapse = collapseInput.checked;
      runSearch();
    });

    const sameSubjectInput = $("same-subject-input");
    sameSubjectInput.addEventListener("change", () => {
      state.sameSubject = sameSubjectInput.checked;
      runSearch();
    });

    const sameLookInput = $("same-look-input");
    sameLookInput.addEventListener("change", () => {
      state.sameLook = sameLookInput.checked;
      runSearch();
    });

    const fileInput = $("file-input");
    fileInput.addEventListener("change", () => {
      const file = fileInput.files && fileInput.files[0];
      if (file) setFileQuery(file);
      fileInput.value = ""; // picking the same file again still searches
    });
    const zone = $("drop-zone");
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (ev) => {
        ev.preventDefault();
        zone.classList.add("dragging");
      });
    }
    for (const type of ["dragleave", "dragend"]) zone.addEventListener(type, () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      zone.classList.remove("dragging");
      const file = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
      if (file) setFileQuery(file);
    });
    // A file dropped anywhere else should not navigate away from the page.
    window.addEventListener("dragover", (ev) => ev.preventDefault());
    window.addEventListener("drop", (ev) => {
      ev.preventDefault();
      const file = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
      if (file) setFileQuery(file);
    });

    $("query-clear").addEventListener("click", clearQuery);
    $("error-dismiss").addEventListener("click", clearError);

    $("page-prev").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - PAGE_SIZE);
      loadCatalog();
    });
    $("page-next").addEventListener("click", () => {
      state.offset += PAGE_SIZE;
      loadCatalog();
    });
    $("kind-filter").addEventListener("change", () => {
      state.kind = $("kind-filter").value;
      state.offset = 0;
      loadCatalog();
    });

    const modal = $("explain-modal");
    $("explain-close").addEventListener("click", () => modal.close());
    modal.addEventListener("close", onExplainClosed);
    modal.addEventListener("click", (ev) => {
      if (ev.target === modal) modal.close(); // a click on the backdrop
    });
    for (const radio of document.querySelectorAll('input[name="explain-space"]')) {
      radio.addEventListener("change", () => radio.checked && loadExplain());
    }
  }

  // -- start ------------------------------------------------------------------------------------------------
  function start() {
    state.k = clampInt($("k-input").value, 1, 1000, 12);
    state.collapse = $("collapse-input").checked;
    state.sameSubject = $("same-subject-input").checked;
    state.sameLook = $("same-look-input").checked;
    state.weight = Number($("mix-weight").value);
    const checked = document.querySelector('input[name="mode"]:checked');
    state.mode = checked ? checked.value : "style";
    wire();
    updateMixText();
    updateModeUi();
    loadHealth();
    loadCatalog();
    document.body.dataset.ready = "true";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
