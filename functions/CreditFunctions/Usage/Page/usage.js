// The credit usage page. No library: the graph is hand-written SVG. Everything it shows comes from the API with the
// browser's session cookie; the only state is the URL (filters) and the cookie (which script cannot read).
"use strict";
(() => {
  const CSRF = { "X-CreditFunctions-Csrf": "1" };
  const PAGE_SIZE = 200;
  const COLORS = ["#4f46e5", "#06b6d4", "#f59e0b", "#10b981", "#ec4899", "#8b5cf6", "#84cc16", "#f97316", "#0ea5e9", "#64748b"];
  const $ = (id) => document.getElementById(id);
  const state = { me: null, filters: null, featureOrder: [], cursor: null, shown: 0, lines: new Map(), loadToken: 0 };

  class SessionEnded extends Error {}

  async function api(path, options = {}) {
    const response = await fetch("/api/v1/" + path, { credentials: "same-origin", ...options, headers: { Accept: "application/json", ...(options.headers || {}) } });
    if (response.status === 401) {
      throw new SessionEnded();
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch { /* not JSON */ }
      throw new Error(detail);
    }
    return response.status === 204 ? null : response.json();
  }

  // ---- dates (all UTC: the ledger's days are UTC days) ----
  const pad = (n) => String(n).padStart(2, "0");
  const isoDay = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const parseDay = (s) => (/^\d{4}-\d{2}-\d{2}$/.test(s || "") ? new Date(s + "T00:00:00Z") : null);
  const addDays = (d, n) => new Date(d.getTime() + n * 86400000);
  function today() { const n = new Date(); return new Date(Date.UTC(n.getUTCFullYear(), n.getUTCMonth(), n.getUTCDate())); }
  function presetRange(preset) {
    const t = today();
    if (preset === "this-month") { return [new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1)), t]; }
    if (preset === "last-month") {
      const first = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() - 1, 1));
      return [first, addDays(new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1)), -1)];
    }
    return [addDays(t, -29), t];
  }
  const dayLabel = (d) => d.toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
  const dateTime = (iso) => {
    const d = new Date(iso);
    return `${d.toLocaleDateString("en-US", { month: "short", day: "numeric", year: "numeric", timeZone: "UTC" })}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  };
  const fmt = (n) => Number(n).toLocaleString("en-US", { maximumFractionDigits: 3 });

  // ---- the URL is the view ----
  function readView() {
    const q = new URLSearchParams(location.search);
    const range = ["this-month", "last-30-days", "last-month", "custom"].includes(q.get("range")) ? q.get("range") : "last-30-days";
    let [from, to] = presetRange(range);
    if (range === "custom") {
      from = parseDay(q.get("from")) || from;
      to = parseDay(q.get("to")) || to;
      if (to < from) { [from, to] = [to, from]; }
    }
    return { range, from, to, user: q.get("user") || "", feature: q.get("feature") || "", action: q.get("action") || "", refunds: q.get("refunds") === "1" };
  }
  function writeView(view, push) {
    const q = new URLSearchParams();
    q.set("range", view.range);
    if (view.range === "custom") { q.set("from", isoDay(view.from)); q.set("to", isoDay(view.to)); }
    if (view.user) { q.set("user", view.user); }
    if (view.feature) { q.set("feature", view.feature); }
    if (view.action) { q.set("action", view.action); }
    if (view.refunds) { q.set("refunds", "1"); }
    const url = location.pathname + "?" + q.toString();
    if (push) { history.pushState(null, "", url); } else { history.replaceState(null, "", url); }
  }
  function apiQuery(view, extra = {}) {
    const q = new URLSearchParams();
    q.set("from", isoDay(view.from) + "T00:00:00Z");
    q.set("to", isoDay(addDays(view.to, 1)) + "T00:00:00Z");
    if (view.user) { q.set("user", view.user); }
    if (view.feature) { q.set("feature", view.feature); }
    if (view.action) { q.set("action", view.action); }
    for (const [k, v] of Object.entries(extra)) { q.set(k, v); }
    return q.toString();
  }

  // ---- sign-in ----
  function showSignIn(message) {
    $("app").hidden = true;
    $("account").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    $("api-key").value = "";
    $("api-key").focus();
  }
  async function signIn(event) {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) { $("signin-error").textContent = "Enter an API key."; return; }
    $("signin-button").disabled = true;
    try {
      const response = await fetch("/api/v1/session", {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", ...CSRF }, body: JSON.stringify({ apiKey: key }),
      });
      $("api-key").value = "";
      if (!response.ok) {
        $("signin-error").textContent = response.status === 401 ? "That key is not valid." : "Signing in failed. Try again.";
        return;
      }
      await start();
    } finally {
      $("signin-button").disabled = false;
    }
  }
  async function signOut() {
    try { await fetch("/api/v1/session", { method: "DELETE", credentials: "same-origin", headers: CSRF }); } finally { showSignIn("You are signed out."); }
  }

  // ---- the page ----
  async function start() {
    try {
      state.me = await api("me");
    } catch (e) {
      if (e instanceof SessionEnded) { showSignIn(""); return; }
      throw e;
    }
    $("signin").hidden = true;
    $("app").hidden = false;
    $("account").hidden = false;
    $("who").textContent = `${state.me.userId} · ${state.me.role} · ${state.me.teamId}`;
    $("scope").textContent = state.me.role === "admin" ? "Everyone in your team" : "Your own usage";
    try {
      const [balances, filters] = await Promise.all([api("credits/balances"), api("credits/usage/filters")]);
      state.filters = filters;
      state.featureOrder = filters.features.map((f) => f.id);
      renderBalances(balances.balances);
      renderFilterOptions(filters);
      await refresh();
    } catch (e) {
      handle(e);
    }
  }
  function handle(e) {
    if (e instanceof SessionEnded) { showSignIn("Your session has ended. Sign in again."); return; }
    $("count").textContent = "Something went wrong: " + e.message;
  }

  function renderBalances(balances) {
    const box = $("balances");
    box.replaceChildren();
    for (const b of balances) {
      const card = el("article", { class: "balance", "data-credit-type": b.creditType });
      card.append(el("h3", {}, b.creditType.replace("_", " ")));
      const big = el("div", { class: "big" }, fmt(b.available));
      big.append(el("small", {}, "available"));
      card.append(big);
      const dl = el("dl");
      const held = el("div"); held.append(el("dt", {}, "Held"), el("dd", {}, fmt(b.held)));
      const soon = el("div", { class: Number(b.expiringSoon) > 0 ? "soon" : null }); soon.append(el("dt", {}, "Expiring soon"), el("dd", {}, fmt(b.expiringSoon)));
      dl.append(held, soon);
      card.append(dl);
      box.append(card);
    }
  }

  function renderFilterOptions(filters) {
    const view = readView();
    const admin = state.me.role === "admin";
    $("member-field").hidden = !admin;
    const user = $("f-user");
    user.replaceChildren(el("option", { value: "" }, "Everyone"));
    if (admin) { for (const u of filters.users) { user.append(el("option", { value: u }, u)); } }
    const usage = $("f-usage");
    usage.replaceChildren(el("option", { value: "" }, "All features"));
    for (const f of filters.features) {
      const group = el("optgroup", { label: f.name });
      group.append(el("option", { value: f.id }, `All of ${f.name}`));
      for (const a of f.actions) { group.append(el("option", { value: `${f.id}/${a.id}` }, a.name)); }
      usage.append(group);
    }
    syncControls(view);
  }
  function syncControls(view) {
    $("f-range").value = view.range;
    $("f-from").value = isoDay(view.from);
    $("f-to").value = isoDay(view.to);
    $("f-user").value = view.user;
    $("f-usage").value = view.action ? `${view.feature}/${view.action}` : view.feature;
    $("f-refunds").checked = view.refunds;
    $("export").href = "/api/v1/credits/usage.csv?" + apiQuery(view, view.refunds ? { includeRefunds: "true" } : {});
  }
  function viewFromControls(changed) {
    const range = $("f-range").value;
    let from = parseDay($("f-from").value), to = parseDay($("f-to").value);
    let r = range;
    if (changed === "f-from" || changed === "f-to") { r = "custom"; }
    if (r !== "custom") { [from, to] = presetRange(r); }
    const [feature, action] = ($("f-usage").value || "").split("/");
    return { range: r, from: from || presetRange("last-30-days")[0], to: to || today(), user: $("f-user").value, feature: feature || "", action: action || "", refunds: $("f-refunds").checked };
  }
  async function onFilterChange(event) {
    const view = viewFromControls(event.target.id);
    writeView(view, true);
    await refresh();
  }

  async function refresh() {
    const view = readView();
    syncControls(view);
    const token = ++state.loadToken;
    $("app").dataset.state = "loading";
    state.cursor = null; state.shown = 0; state.lines.clear();
    $("lines").tBodies[0].replaceChildren();
    $("count").textContent = "Loading…";
    try {
      const [summary] = await Promise.all([api("credits/usage/summary?" + apiQuery(view)), loadPage(view, token)]);
      if (token !== state.loadToken) { return; }
      renderChart(view, summary.series);
      $("app").dataset.state = "ready";
    } catch (e) {
      handle(e);
    }
  }
  async function loadPage(view, token) {
    const extra = { limit: String(PAGE_SIZE) };
    if (view.refunds) { extra.includeRefunds = "true"; }
    if (state.cursor) { extra.cursor = state.cursor; }
    const page = await api("credits/usage?" + apiQuery(view, extra));
    if (token !== state.loadToken) { return; }
    appendRows(page.lines);
    state.cursor = page.nextCursor;
    $("load-more").hidden = !page.nextCursor;
    const empty = state.shown === 0;
    $("empty").hidden = !empty;
    $("table-wrap").hidden = empty;
    if (empty) {
      const never = state.filters && state.filters.features.length === 0;
      $("empty").replaceChildren(el("strong", {}, never ? "No usage yet" : "No usage in this view"),
        document.createTextNode(never ? "Credits your team spends on reveals, enrichment and jobs will show up here." : "Try a longer date range, another feature, or everyone in the team."));
    }
    $("count").textContent = empty ? "" : `${fmt(state.shown)} line${state.shown === 1 ? "" : "s"}${page.nextCursor ? " shown, more to load" : ""}`;
  }

  // ---- table ----
  function appendRows(lines) {
    const body = $("lines").tBodies[0];
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      state.lines.set(line.id + "|" + line.kind, line);
      const refund = line.kind === "refund";
      const tr = el("tr", { class: refund ? "refund" : null, "data-kind": line.kind, "data-user": line.user, "data-feature": line.feature || "" });
      tr.append(el("td", {}, dateTime(line.date)));
      tr.append(el("td", {}, line.featureName || line.feature || "—"));
      const action = el("td", {}, line.actionName || line.action || "—");
      if (refund) { action.append(el("span", { class: "badge refund" }, "Refund")); }
      if (line.alreadyOwned) { action.append(el("span", { class: "badge owned" }, "Already owned")); }
      tr.append(action);
      const description = refund && line.reason ? `${line.description || ""}${line.description ? " · " : ""}${line.reason}` : (line.description || "");
      tr.append(el("td", { class: "desc", title: description }, description || "—"));
      tr.append(el("td", { class: "num credits" }, fmt(line.credits)));
      tr.append(el("td", {}, line.dataRequested || "—"));
      tr.append(el("td", {}, line.user));
      const cell = el("td");
      const button = el("button", { type: "button", class: "row-button", "aria-haspopup": "menu", "aria-expanded": "false",
        "aria-label": `Actions for the line of ${dateTime(line.date)}`, "data-line": line.id + "|" + line.kind }, "…");
      cell.append(button);
      tr.append(cell);
      fragment.append(tr);
      state.shown++;
    }
    body.append(fragment);
  }

  // ---- row menu ----
  let menuButton = null;
  function related(line) {
    const items = [];
    if (line.subjectId && !line.subjectId.startsWith("site:")) { items.push({ label: "View contact", kind: "contact", id: line.subjectId }); }
    const rec = line.relatedRecord || "";
    const sep = rec.indexOf(":");
    const kind = sep > 0 ? rec.slice(0, sep) : "", id = sep > 0 ? rec.slice(sep + 1) : "";
    if (kind === "waterfall") { items.push({ label: "View run", kind: "run", id }); }
    if (kind === "csv-job") { items.push({ label: "View job", kind: "job", id }); }
    if (kind === "person" && !items.some((i) => i.kind === "contact")) { items.push({ label: "View contact", kind: "contact", id }); }
    return items;
  }
  function openMenu(button) {
    closeMenu();
    const line = state.lines.get(button.dataset.line);
    if (!line) { return; }
    const menu = $("row-menu");
    menu.replaceChildren();
    const exportItem = el("button", { type: "button", role: "menuitem" }, "Export row to CSV");
    exportItem.addEventListener("click", () => { closeMenu(true); exportRow(line); });
    menu.append(exportItem);
    for (const item of related(line)) {
      const b = el("button", { type: "button", role: "menuitem" }, item.label);
      b.addEventListener("click", () => { closeMenu(); showRelated(item); });
      menu.append(b);
    }
    const rect = button.getBoundingClientRect();
    menu.hidden = false;
    menu.style.top = `${window.scrollY + rect.bottom + 4}px`;
    menu.style.left = `${Math.max(8, window.scrollX + rect.right - menu.offsetWidth)}px`;
    button.setAttribute("aria-expanded", "true");
    menuButton = button;
    menu.querySelector("button").focus();
  }
  function closeMenu(returnFocus) {
    const menu = $("row-menu");
    if (menu.hidden) { return; }
    menu.hidden = true;
    if (menuButton) { menuButton.setAttribute("aria-expanded", "false"); if (returnFocus) { menuButton.focus(); } }
    menuButton = null;
  }
  function menuKeys(event) {
    const items = [...$("row-menu").querySelectorAll("button")];
    const i = items.indexOf(document.activeElement);
    if (event.key === "Escape") { event.preventDefault(); closeMenu(true); }
    if (event.key === "ArrowDown") { event.preventDefault(); items[(i + 1) % items.length].focus(); }
    if (event.key === "ArrowUp") { event.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
    if (event.key === "Tab") { closeMenu(); }
  }

  // The API's export rules, for one row: text starting with = + - @ (or a tab or carriage return) is escaped with a
  // leading ', numbers stay numbers.
  function csvCell(value, numeric) {
    let s = value == null ? "" : String(value);
    if (!numeric && /^[=+\-@\t\r]/.test(s)) { s = "'" + s; }
    return /[",\r\n]/.test(s) ? `"${s.replaceAll("\"", "\"\"")}"` : s;
  }
  function exportRow(line) {
    const header = ["date", "feature", "action", "description", "credits", "credit_type", "data_requested", "user", "related_record", "kind", "id"];
    const date = new Date(line.date).toISOString().replace(/\.\d{3}Z$/, "Z");
    const cells = [date, line.featureName || line.feature, line.actionName || line.action, line.description, line.credits, line.creditType,
      line.dataRequested, line.user, line.relatedRecord, line.kind, line.id];
    const text = header.join(",") + "\r\n" + cells.map((c, i) => csvCell(c, i === 4)).join(",") + "\r\n";
    const url = URL.createObjectURL(new Blob(["\ufeff" + text], { type: "text/csv;charset=utf-8" }));
    const a = el("a", { href: url, download: `credit-usage-${line.id}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function showRelated(item) {
    const dialog = $("related");
    const body = $("related-body");
    const titles = { contact: "Contact", run: "Waterfall run", job: "CSV job" };
    $("related-title").textContent = `${titles[item.kind]} ${item.id}`;
    body.replaceChildren(el("dt", {}, "Loading"), el("dd", {}, "…"));
    dialog.showModal();
    const paths = { contact: "contacts/", run: "enrichment/waterfall/", job: "csv-jobs/" };
    try {
      const data = await api(paths[item.kind] + encodeURIComponent(item.id));
      body.replaceChildren();
      const fields = item.kind === "contact"
        ? [["Name", data.name], ["Email", data.email], ["Email found by", data.emailProvider], ["Verification", data.emailVerification], ["Mobile", data.mobile], ["Mobile found by", data.mobileProvider], ["Person id", data.personId]]
        : item.kind === "run"
          ? [["Status", data.status], ["People", data.progress && data.progress.total], ["Done", data.progress && data.progress.done], ["Emails found", data.progress && data.progress.emailsFound], ["Credits charged", data.progress && data.progress.creditsCharged]]
          : [["Status", data.status], ["File", data.fileName], ["Rows done", data.progress && data.progress.rowsDone], ["Emails found", data.progress && data.progress.emailsFound]];
      for (const [name, value] of fields) {
        if (value !== undefined && value !== null && value !== "") { body.append(el("dt", {}, name), el("dd", {}, String(value))); }
      }
      if (!body.childElementCount) { body.append(el("dt", {}, "Details"), el("dd", {}, "Nothing recorded yet")); }
    } catch (e) {
      if (e instanceof SessionEnded) { dialog.close(); handle(e); return; }
      body.replaceChildren(el("dt", {}, "Not available"), el("dd", {}, e.message));
    }
  }

  // ---- chart ----
  function renderChart(view, series) {
    const chart = $("chart");
    const days = [];
    for (let d = view.from; d <= view.to; d = addDays(d, 1)) { days.push(isoDay(d)); }
    const order = [...state.featureOrder, ...series.map((s) => s.feature).filter((f) => !state.featureOrder.includes(f))];
    const color = (f) => COLORS[order.indexOf(f) % COLORS.length];
    const names = new Map(series.map((s) => [s.feature, s.featureName]));
    const perDay = new Map(days.map((d) => [d, { features: new Map(), charged: 0, refunded: 0 }]));
    for (const s of series) {
      for (const p of s.points) {
        const day = perDay.get(p.day);
        if (!day) { continue; }
        const charged = Number(p.charged), refunded = view.refunds ? Number(p.refunded) : 0;
        day.features.set(s.feature, { charged, refunded });
        day.charged += charged;
        day.refunded += refunded;
      }
    }
    let charged = 0, refunded = 0;
    for (const d of perDay.values()) { charged += d.charged; refunded += d.refunded; }
    const totals = $("totals");
    totals.replaceChildren();
    if (view.refunds) {
      totals.append(el("strong", { id: "total-net" }, fmt(charged - refunded)), document.createTextNode(" credits net · "),
        document.createTextNode(`${fmt(charged)} used, `), el("span", { class: "refunded" }, `${fmt(refunded)} refunded`));
    } else {
      totals.append(el("strong", { id: "total-net" }, fmt(charged)), document.createTextNode(" credits used"));
    }
    totals.dataset.total = String(view.refunds ? charged - refunded : charged);

    const legend = $("legend");
    legend.replaceChildren();
    const used = order.filter((f) => series.some((s) => s.feature === f && s.points.some((p) => Number(p.charged) !== 0)));
    for (const f of used) {
      const li = el("li"); const sw = el("span", { class: "swatch" }); sw.style.background = color(f);
      li.append(sw, document.createTextNode(names.get(f) || f)); legend.append(li);
    }
    if (view.refunds && refunded > 0) {
      const li = el("li"); const sw = el("span", { class: "swatch" }); sw.style.background = "var(--refund)";
      li.append(sw, document.createTextNode("Refunds")); legend.append(li);
    }

    if (charged === 0 && refunded === 0) {
      chart.replaceChildren(el("div", { class: "chart-empty" }, "No credits used in this range"));
      return;
    }
    const W = Math.max(chart.clientWidth || 900, 320), H = 260, left = 44, right = 8, top = 10, bottom = 26;
    const maxUp = Math.max(...[...perDay.values()].map((d) => d.charged), 0);
    const maxDown = Math.max(...[...perDay.values()].map((d) => d.refunded), 0);
    const step = niceStep((maxUp + maxDown) / 4 || 1);
    const upTop = Math.ceil(maxUp / step) * step || step, downBottom = Math.ceil(maxDown / step) * step;
    const plotH = H - top - bottom;
    const y = (v) => top + plotH * (upTop - v) / (upTop + downBottom);
    const slot = (W - left - right) / days.length;
    const barW = Math.max(2, Math.min(34, slot * 0.68));
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Credits per day from ${dayLabel(view.from)} to ${dayLabel(view.to)}` });
    for (let v = -downBottom; v <= upTop + 1e-9; v += step) {
      svg.append(svgEl("line", { class: v === 0 ? "axis" : "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
      const t = svgEl("text", { x: left - 8, y: y(v) + 4, "text-anchor": "end" }); t.textContent = fmt(v + 0); svg.append(t);
    }
    const labelEvery = Math.ceil(days.length / Math.max(1, Math.floor((W - left) / 64)));
    days.forEach((day, i) => {
      const d = perDay.get(day);
      const x = left + slot * i + (slot - barW) / 2;
      let base = 0;
      for (const f of order) {
        const v = d.features.get(f);
        if (!v || v.charged <= 0) { continue; }
        svg.append(svgEl("rect", { x, y: y(base + v.charged), width: barW, height: Math.max(0, y(base) - y(base + v.charged)), fill: color(f), rx: 2, "data-feature": f }));
        base += v.charged;
      }
      if (d.refunded > 0) {
        svg.append(svgEl("rect", { x, y: y(0), width: barW, height: Math.max(0, y(-d.refunded) - y(0)), fill: "#e5484d", rx: 2, class: "refund-bar" }));
      }
      if (i % labelEvery === 0) {
        const t = svgEl("text", { x: left + slot * i + slot / 2, y: H - 8, "text-anchor": "middle" }); t.textContent = dayLabel(new Date(day + "T00:00:00Z")); svg.append(t);
      }
      const label = `${dayLabel(new Date(day + "T00:00:00Z"))}: ${fmt(d.charged)} used` + (view.refunds ? `, ${fmt(d.refunded)} refunded` : "");
      const hit = svgEl("rect", { class: "day-hit", x: left + slot * i, y: top, width: slot, height: plotH, tabindex: "0", "aria-label": label, "data-day": day });
      hit.addEventListener("mouseenter", () => showTip(hit, day, d, order, names, color, view));
      hit.addEventListener("focus", () => showTip(hit, day, d, order, names, color, view));
      hit.addEventListener("mouseleave", hideTip);
      hit.addEventListener("blur", hideTip);
      hit.addEventListener("keydown", (e) => {
        const hits = [...svg.querySelectorAll(".day-hit")];
        if (e.key === "ArrowRight" && hits[i + 1]) { e.preventDefault(); hits[i + 1].focus(); }
        if (e.key === "ArrowLeft" && hits[i - 1]) { e.preventDefault(); hits[i - 1].focus(); }
      });
      svg.append(hit);
    });
    chart.replaceChildren(svg);
  }
  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function showTip(hit, day, d, order, names, color, view) {
    const tip = $("tooltip");
    tip.replaceChildren(el("div", { class: "t-day" }, new Date(day + "T00:00:00Z").toLocaleDateString("en-US", { weekday: "short", month: "long", day: "numeric", timeZone: "UTC" })));
    for (const f of order) {
      const v = d.features.get(f);
      if (!v || v.charged === 0) { continue; }
      const row = el("div", { class: "t-row" }); const name = el("span"); const sw = el("span", { class: "swatch" }); sw.style.background = color(f);
      name.append(sw, document.createTextNode(names.get(f) || f)); row.append(name, el("span", {}, fmt(v.charged))); tip.append(row);
    }
    if (view.refunds) { const row = el("div", { class: "t-row t-refund" }); row.append(el("span", {}, "Refunds"), el("span", {}, d.refunded > 0 ? "−" + fmt(d.refunded) : "0")); tip.append(row); }
    const total = el("div", { class: "t-row t-total" });
    total.append(el("span", {}, view.refunds ? "Net" : "Total"), el("span", {}, fmt(d.charged - d.refunded)));
    tip.append(total);
    tip.hidden = false;
    const card = tip.offsetParent.getBoundingClientRect(), r = hit.getBoundingClientRect();
    let x = r.left - card.left + r.width / 2 + 12;
    if (x + tip.offsetWidth > card.width - 8) { x = r.left - card.left - tip.offsetWidth - 4; }
    tip.style.left = `${Math.max(8, x)}px`;
    tip.style.top = `${r.top - card.top + 20}px`;
  }
  function hideTip() { $("tooltip").hidden = true; }

  // ---- helpers ----
  function el(tag, attrs = {}, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) { if (v != null) { e.setAttribute(k, v); } }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function svgEl(tag, attrs = {}) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) { e.setAttribute(k, v); }
    return e;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    $("filters").addEventListener("change", onFilterChange);
    $("filters").addEventListener("submit", (e) => e.preventDefault());
    $("load-more").addEventListener("click", async () => {
      $("load-more").disabled = true;
      $("app").dataset.state = "loading";
      try { await loadPage(readView(), state.loadToken); $("app").dataset.state = "ready"; } catch (e) { handle(e); } finally { $("load-more").disabled = false; }
    });
    $("lines").addEventListener("click", (e) => {
      const button = e.target.closest(".row-button");
      if (button) { e.stopPropagation(); if (menuButton === button) { closeMenu(true); } else { openMenu(button); } }
    });
    $("row-menu").addEventListener("keydown", menuKeys);
    document.addEventListener("click", (e) => { if (!e.target.closest("#row-menu")) { closeMenu(); } });
    window.addEventListener("popstate", () => { if (state.me) { refresh(); } });
    start().catch(handle);
  });
})();
