// The Autofunnel dashboard: plain DOM, every piece of data inserted as text (never as HTML),
// charts by the vendored Chart.js, the funnel graph by the vendored Mermaid (strict mode).
"use strict";
(() => {
  const KEY = "autofunnel.adminKey";
  const $ = (id) => document.getElementById(id);
  let charts = [];
  let graphs = 0;
  let refresh = null;

  // --- DOM helpers: strings always become text nodes -------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const num = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 0 }));
  const money = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");
  const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 19) : "–");
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.round(seconds);
    if (s >= 86400) return Math.floor(s / 86400) + "d" + (s % 86400 >= 3600 ? " " + Math.floor((s % 86400) / 3600) + "h" : "");
    if (s >= 3600) return Math.floor(s / 3600) + "h";
    if (s >= 60) return Math.floor(s / 60) + "m";
    return s + "s";
  }
  function table(columns, rows, attrs) {
    return el("table", attrs,
      el("thead", null, el("tr", null, columns.map((c) => el("th", c.text ? { class: "text" } : null, c.label)))),
      el("tbody", null, rows.map((row) => el("tr", null, columns.map((c) => {
        const value = c.value(row);
        return el("td", c.text ? { class: "text" } : null, value);
      })))));
  }
  const card = (label, value, id) => el("div", { class: "card", "data-figure": id || null }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));

  // --- the admin API ---------------------------------------------------------------------
  class SignedOut extends Error {}
  async function api(path, payload) {
    const key = sessionStorage.getItem(KEY);
    if (!key) throw new SignedOut("no key");
    const request = { headers: { Authorization: "Bearer " + key } };
    if (payload !== undefined) {
      request.method = "POST";
      request.headers["Content-Type"] = "application/json";
      request.body = JSON.stringify(payload);
    }
    const response = await fetch(path, request);
    if (response.status === 401) {
      sessionStorage.removeItem(KEY);
      throw new SignedOut((await response.json()).error || "wrong admin key");
    }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || "HTTP " + response.status);
    return body;
  }

  // --- views -----------------------------------------------------------------------------
  const STAGE_LABELS = { visitors: "visitors", product_viewers: "product viewers", carts: "carts", checkouts: "checkouts", buyers: "buyers", repeat_buyers: "repeat buyers" };

  // The whole site's funnel: of the contacts first seen in the last 30 days, how far they got.
  async function siteFunnel(view) {
    const [bySource, byWeek] = await Promise.all([api("admin/stats/site?by=source"), api("admin/stats/site?by=week")]);
    const total = bySource.total;
    view.append(el("h2", null, "Site funnel ", el("span", { class: "muted" }, "contacts first seen in the last 30 days, and how far they got")));
    view.append(el("div", { class: "cards", id: "site-stages" }, bySource.stages.map((stage) =>
      card(STAGE_LABELS[stage], num(total[stage]) + (total.from_previous[stage] === undefined ? "" : " (" + pct(total.from_previous[stage]) + ")"), stage))));
    const canvas = el("canvas", { id: "site-chart", role: "img", "aria-label": "contacts reaching each stage of the site funnel" });
    view.append(el("div", { class: "chart" }, canvas));
    charts.push(new Chart(canvas, {
      type: "bar",
      data: { labels: bySource.stages.map((s) => STAGE_LABELS[s]), datasets: [{ label: "contacts", data: bySource.stages.map((s) => total[s]), backgroundColor: "#2f6fed" }] },
      options: { indexAxis: "y", animation: false, plugins: { legend: { display: false } } },
    }));
    const columns = (key, label) => [
      { label, text: true, value: (r) => r[key] },
      ...bySource.stages.map((stage) => ({ label: STAGE_LABELS[stage], value: (r) => num(r[stage]) })),
      { label: "visitor → buyer", value: (r) => pct(r.from_visitors.buyers) },
    ];
    view.append(el("h3", null, "By first-touch source"), table(columns("source", "source"), bySource.rows, { id: "site-sources" }));
    view.append(el("h3", null, "By week first seen"), table(columns("week", "week of"), byWeek.rows, { id: "site-weeks" }));
  }

  async function funnelsView(view) {
    await siteFunnel(view);
    const { funnels } = await api("admin/stats/funnels");
    view.append(el("h2", null, "Funnels"));
    if (!funnels.length) view.append(el("p", { class: "muted" }, "No funnels yet: upload one with `autofunnel push`."));
    view.append(table([
      { label: "funnel", text: true, value: (f) => el("a", { href: "#/funnel/" + encodeURIComponent(f.name) }, f.name) },
      { label: "state", text: true, value: (f) => f.state },
      { label: "version", value: (f) => "v" + f.version },
      { label: "entered", value: (f) => num(f.entered) },
      { label: "active", value: (f) => num(f.active) },
      { label: "converted", value: (f) => num(f.converted) },
      { label: "conversion", value: (f) => pct(f.conversion_rate) },
      { label: "revenue", value: (f) => money(f.revenue) },
      { label: "attributed revenue", value: (f) => money(f.attributed_revenue) },
    ], funnels, { id: "funnels" }));
  }

  async function funnelView(view, name) {
    const body = await api("admin/stats/funnels/" + encodeURIComponent(name));
    const t = body.totals;
    view.append(el("h2", null, "Funnel ", body.name, " ", el("span", { class: "muted" }, "all versions (latest v" + body.latest_version + ", " + body.state + ")")));
    view.append(el("div", { class: "cards" },
      card("entered", num(t.entered), "entered"), card("active now", num(t.active), "active"),
      card("converted", num(t.converted) + " (" + pct(t.conversion_rate) + ")", "converted"),
      card("revenue", money(t.revenue), "revenue"), card("revenue per contact", money(t.revenue_per_contact)),
      card("attributed revenue", money(t.attributed_revenue) + " (" + num(t.attributed_orders) + " orders)", "attributed")));
    const steps = body.steps.filter((s) => s.kind !== "end");
    const bars = [["entered", t.entered], ...steps.map((s) => [s.id, s.reached]), ["converted", t.converted]];
    const canvas = el("canvas", { id: "funnel-chart", role: "img", "aria-label": "contacts reaching each step" });
    view.append(el("h3", null, "Step by step"), el("div", { class: "chart" }, canvas,
      el("ul", { class: "bars-list", id: "funnel-bars" }, bars.map(([label, value]) => el("li", { "data-step": label }, label + ": " + num(value))))));
    charts.push(new Chart(canvas, {
      type: "bar",
      data: { labels: bars.map((b) => b[0]), datasets: [{ label: "contacts", data: bars.map((b) => b[1]), backgroundColor: "#2f6fed" }] },
      options: { indexAxis: "y", animation: false, plugins: { legend: { display: false } } },
    }));
    view.append(table([
      { label: "step", text: true, value: (s) => (s.kind === "end" ? "after the last step" : s.id) },
      { label: "kind", text: true, value: (s) => (s.kind === "end" ? "completed: " + num(s.completed) : s.kind) },
      { label: "reached", value: (s) => (s.kind === "end" ? "–" : num(s.reached)) },
      { label: "of entry", value: (s) => (s.kind === "end" ? "–" : pct(s.rate_from_entry)) },
      { label: "of previous", value: (s) => (s.kind === "end" ? "–" : pct(s.rate_from_previous)) },
      { label: "sent", value: (s) => num(s.sent) },
      { label: "delivered", value: (s) => num(s.delivered) },
      { label: "opened", value: (s) => num(s.opened) },
      { label: "clicked", value: (s) => num(s.clicked) },
      { label: "replied", value: (s) => num(s.replied) },
      { label: "unsub.", value: (s) => num(s.unsubscribed) },
      { label: "bounced", value: (s) => num(s.bounced) },
      { label: "converted here", value: (s) => num(s.converted) },
      { label: "exited", value: (s) => num(s.exited) },
      { label: "waiting", value: (s) => num(s.waiting) },
      { label: "median time", value: (s) => duration(s.median_seconds) },
    ], body.steps, { id: "steps" }));
    for (const split of body.splits) {
      view.append(el("h3", null, "Split ", split.step, el("span", { class: "muted" }, " · " + split.test + ", control: " + split.control)));
      view.append(table([
        { label: "arm", text: true, value: (a) => a.arm },
        { label: "entered", value: (a) => num(a.entered) },
        { label: "converted", value: (a) => num(a.converted) },
        { label: "conversion", value: (a) => pct(a.conversion_rate) },
        { label: "revenue", value: (a) => money(a.revenue) },
        { label: "lift", value: (a) => (a.control ? "control" : pct(a.lift)) },
        { label: "p-value", value: (a) => (a.control || a.p_value === null ? "–" : a.p_value.toFixed(4)) },
        { label: "verdict", text: true, value: (a) => (a.control ? "" : a.significant ? "significant" : a.enough_data ? "not significant" : "not enough data") },
      ], split.arms, { class: "split" }));
    }
    const graph = el("div", { class: "graph", id: "funnel-graph" });
    view.append(el("h3", null, "Graph, coloured by drop-off from the previous step"),
      el("p", { class: "legend" }, el("span", { class: "keep" }, "80%+ continue"), el("span", { class: "leak" }, "50–80%"), el("span", { class: "drop" }, "under 50%"), el("span", { class: "idle" }, "nobody yet")),
      graph);
    try {
      const { svg } = await mermaid.render("funnel-graph-svg-" + ++graphs, body.mermaid);
      graph.innerHTML = svg; // Mermaid's own output, sanitised by it (securityLevel: strict)
    } catch (error) {
      graph.append(el("pre", null, body.mermaid));
    }
  }

  async function messagesView(view) {
    const { templates } = await api("admin/stats/templates");
    view.append(el("h2", null, "Message templates"));
    const rows = templates.flatMap((t) => Object.entries(t.channels).map(([channel, c]) => ({ template: t.template, channel, ...c })));
    view.append(table([
      { label: "template", text: true, value: (r) => r.template },
      { label: "channel", text: true, value: (r) => r.channel },
      { label: "sent", value: (r) => num(r.sent) },
      { label: "delivered", value: (r) => num(r.delivered) },
      { label: "delivery rate", value: (r) => pct(r.delivery_rate) },
      { label: "opened", value: (r) => num(r.opened) },
      { label: "open rate", value: (r) => pct(r.open_rate) },
      { label: "clicked", value: (r) => num(r.clicked) },
      { label: "click rate", value: (r) => pct(r.click_rate) },
      { label: "orders", value: (r) => num(r.orders) },
      { label: "revenue", value: (r) => money(r.revenue) },
    ], rows, { id: "templates" }));
  }

  // A step's message as a contact gets it: email HTML in a sandboxed frame (no scripts, no
  // same-origin), every other part as text.
  async function previewView(view) {
    const { funnels } = await api("admin/funnels");
    view.append(el("h2", null, "Preview a message"));
    if (!funnels.length) {
      view.append(el("p", { class: "muted" }, "No funnels yet: upload one with `autofunnel push`."));
      return;
    }
    const funnelSelect = el("select", { id: "preview-funnel" }, funnels.map((f) => el("option", { value: f.name }, f.name)));
    const stepSelect = el("select", { id: "preview-step" });
    const contactInput = el("input", { id: "preview-contact", type: "search", placeholder: "email or contact id (empty: the sample)" });
    const form = el("form", { class: "search", id: "preview-form" },
      el("label", null, "Funnel ", funnelSelect), " ", el("label", null, "Step ", stepSelect), " ",
      el("label", null, "Contact ", contactInput), " ", el("button", { type: "submit" }, "Preview"));
    const out = el("div", { id: "preview-result" });
    const status = el("p", { class: "muted", id: "preview-status" });
    view.append(form, status, out);
    async function show(step) {
      status.textContent = "";
      out.replaceChildren();
      const body = { funnel: funnelSelect.value, contact: contactInput.value.trim() };
      if (step) body.step = step;
      let answer;
      try {
        answer = await api("admin/preview", body);
      } catch (error) {
        if (error instanceof SignedOut) throw error;
        status.textContent = error.message;
        return;
      }
      stepSelect.replaceChildren(...answer.steps.map((s) => el("option", { value: s.id, selected: s.id === answer.step }, s.id + " (" + s.channels.join(", ") + ")")));
      status.textContent = answer.contact === "sample" ? "Rendered with the funnel's sample data." : "Rendered for contact " + answer.contact.contact_id + ".";
      for (const [channel, parts] of Object.entries(answer.channels)) out.append(previewChannel(channel, parts));
      out.setAttribute("data-step", answer.step);
    }
    funnelSelect.addEventListener("change", () => show(null));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      show(stepSelect.value || null);
    });
    await show(null);
  }

  function previewChannel(channel, parts) {
    const section = el("section", { class: "preview", "data-channel": channel }, el("h3", null, channel));
    const row = (label, value) => el("p", null, el("strong", null, label + ": "), value);
    if (channel === "email") {
      section.append(row("Subject", parts.subject || ""));
      if (parts.preheader) section.append(row("Preheader", parts.preheader));
      if (parts.html) {
        const frame = el("iframe", { class: "email", sandbox: "", title: "email preview", referrerpolicy: "no-referrer" });
        frame.srcdoc = parts.html; // sandboxed: no scripts, no forms, an opaque origin
        section.append(frame);
      }
      section.append(el("h4", null, parts.text_derived ? "Text (no text part: what plain-text readers get from the HTML)" : "Text part"),
        el("pre", { class: "text-part" }, parts.text || ""));
      return section;
    }
    if (parts.title) section.append(row("Title", parts.title));
    if (parts.style) section.append(row("Shown as", parts.style));
    section.append(el("pre", { class: "text-part" }, parts.text || ""));
    if (parts.encoding) {
      section.append(el("p", { class: "sms-info" }, parts.encoding + " · " + parts.characters + " characters · " + parts.segments + " segment" + (parts.segments === 1 ? "" : "s")));
    }
    for (const warning of parts.warnings || []) section.append(el("p", { class: "error", role: "alert" }, warning));
    if ((parts.buttons || []).length) {
      section.append(el("div", { class: "buttons" }, parts.buttons.map((b) => el("span", { class: "button", title: b.url || "reply button " + b.id }, b.text))));
    }
    if (parts.capture) section.append(row("Form", parts.capture.field + " → " + parts.capture.button));
    return section;
  }

  async function limitsView(view) {
    const body = await api("admin/held");
    view.append(el("h2", null, "Sending limits"));
    view.append(el("p", { class: "muted" },
      "SMS and WhatsApp go to: " + (body.sms_countries.length ? body.sms_countries.join(", ") : "no country (set AUTOFUNNEL_SMS_COUNTRIES)") +
      " · frequency cap per contact: " + (body.frequency_cap || "none")));
    const channels = [...new Set([...Object.keys(body.limits), ...Object.keys(body.held_count)])].sort();
    if (!channels.length) view.append(el("p", { class: "muted" }, "No daily limits are set (AUTOFUNNEL_DAILY_LIMITS)."));
    async function act(action, channel) {
      const verb = action === "release" ? "Send" : "Discard";
      if (!window.confirm(verb + " every held " + channel + " message?")) return;
      await api("admin/held/" + action, { channel });
      render();
    }
    view.append(table([
      { label: "channel", text: true, value: (c) => c },
      { label: "daily limit", value: (c) => (c in body.limits ? num(body.limits[c]) : "none") },
      { label: "used today", value: (c) => num(body.used_today[c] || 0) },
      { label: "held", value: (c) => num(body.held_count[c] || 0) },
      { label: "", text: true, value: (c) => (body.held_count[c] ? [
        el("button", { type: "button", "data-action": "release", onclick: () => act("release", c) }, "Send held"), " ",
        el("button", { type: "button", "data-action": "discard", onclick: () => act("discard", c) }, "Discard held")] : "") },
    ], channels, { id: "limits" }));
    if (body.held.length) {
      view.append(el("h3", null, "Held messages, oldest first"));
      view.append(table([
        { label: "held since", text: true, value: (m) => when(m.held_at) },
        { label: "channel", text: true, value: (m) => m.channel },
        { label: "funnel / step", text: true, value: (m) => (m.funnel || "–") + " / " + (m.step || "–") },
        { label: "contact", text: true, value: (m) => el("a", { href: "#/contact/" + encodeURIComponent(m.contact_id) }, m.contact_id) },
      ], body.held, { id: "held" }));
    }
  }

  async function trendsView(view) {
    const { days } = await api("admin/stats/days");
    view.append(el("h2", null, "The last 30 days"));
    const canvas = el("canvas", { id: "trend-chart" });
    view.append(el("div", { class: "chart" }, canvas));
    charts.push(new Chart(canvas, {
      type: "line",
      data: {
        labels: days.map((d) => d.date),
        datasets: [
          { label: "new contacts", data: days.map((d) => d.contacts), yAxisID: "y" },
          { label: "orders", data: days.map((d) => d.orders), yAxisID: "y" },
          { label: "conversions", data: days.map((d) => d.conversions), yAxisID: "y" },
          { label: "revenue", data: days.map((d) => d.revenue), yAxisID: "money" },
        ],
      },
      options: { animation: false, scales: { y: { beginAtZero: true }, money: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } } } },
    }));
    view.append(table([
      { label: "day", text: true, value: (d) => d.date },
      { label: "new contacts", value: (d) => num(d.contacts) },
      { label: "events", value: (d) => num(d.events) },
      { label: "messages", value: (d) => Object.entries(d.messages).map(([c, n]) => c + " " + n).join(", ") || "–" },
      { label: "conversions", value: (d) => num(d.conversions) },
      { label: "orders", value: (d) => num(d.orders) },
      { label: "revenue", value: (d) => money(d.revenue) },
      { label: "attributed", value: (d) => money(d.attributed_revenue) },
    ], days.slice().reverse(), { id: "days" }));
  }

  async function cohortsView(view) {
    const body = await api("admin/stats/cohorts");
    view.append(el("h2", null, "Cohorts by first touch"));
    view.append(table([
      { label: "source", text: true, value: (c) => c.source },
      { label: "campaign", text: true, value: (c) => c.campaign || "–" },
      { label: "contacts", value: (c) => num(c.contacts) },
      { label: "buyers", value: (c) => num(c.buyers) },
      { label: "buyer rate", value: (c) => pct(c.buyer_rate) },
      { label: "revenue", value: (c) => money(c.revenue) },
      { label: "LTV per contact", value: (c) => money(c.ltv_per_contact) },
      { label: "LTV per buyer", value: (c) => money(c.ltv_per_buyer) },
    ], body.cohorts, { id: "cohorts" }));
    view.append(el("h3", null, "Average LTV per acquisition source"), table([
      { label: "source", text: true, value: (c) => c.source },
      { label: "contacts", value: (c) => num(c.contacts) },
      { label: "buyers", value: (c) => num(c.buyers) },
      { label: "revenue", value: (c) => money(c.revenue) },
      { label: "LTV per contact", value: (c) => money(c.ltv_per_contact) },
      { label: "LTV per buyer", value: (c) => money(c.ltv_per_buyer) },
    ], body.sources, { id: "sources" }));
  }

  async function rfmView(view) {
    const [body, runs] = await Promise.all([api("admin/stats/rfm"), api("admin/jobs?kind=rfm&limit=1")]);
    view.append(el("h2", null, "RFM ", el("span", { class: "muted" }, num(body.buyers) + " buyers, scored " + when(body.scored_at))));
    const running = runs.jobs.filter(isOpen);
    if (running.length) view.append(el("p", { class: "muted", id: "rfm-running" }, "Scoring now: ", el("a", { href: "#/jobs" }, pct(running[0].progress))));
    const top = Math.max(1, ...body.grid.flat().map((c) => c.count));
    view.append(el("table", { class: "rfm-grid", id: "rfm-grid" },
      el("thead", null, el("tr", null, el("th", null, "recency ↓ / frequency+money →"), [1, 2, 3, 4, 5].map((fm) => el("th", null, "FM " + fm)))),
      el("tbody", null, body.grid.map((row) => el("tr", null, el("th", null, "R " + row[0].r), row.map((c) =>
        el("td", { style: "background: rgba(47,111,237," + (0.08 + 0.6 * c.count / top).toFixed(2) + ")", "data-cell": c.r + "-" + c.fm },
          el("strong", null, num(c.count)), el("span", { class: "segment" }, c.segment.replace("_", " ")))))))));
    view.append(el("h3", null, "Segments"), table([
      { label: "segment", text: true, value: (s) => s.segment.replace("_", " ") },
      { label: "buyers", value: (s) => num(s.count) },
      { label: "revenue", value: (s) => money(s.revenue) },
      { label: "average LTV", value: (s) => money(s.avg_ltv) },
    ], body.segments, { id: "rfm-segments" }));
  }

  async function segmentsView(view) {
    const { segments } = await api("admin/stats/segments");
    view.append(el("h2", null, "Saved segments"));
    if (!segments.length) view.append(el("p", { class: "muted" }, "No saved segments: PUT /admin/segments/{name} with a condition."));
    for (const s of segments) {
      view.append(el("h3", null, s.name, " ", el("span", { class: "muted" }, num(s.members) + " members" + (s.description ? " · " + s.description : ""))));
      const canvas = el("canvas");
      view.append(el("div", { class: "chart" }, canvas));
      charts.push(new Chart(canvas, {
        type: "line",
        data: { labels: s.days.map((d) => d.date), datasets: [{ label: "members", data: s.days.map((d) => d.members) }] },
        options: { animation: false, scales: { y: { beginAtZero: true } } },
      }));
    }
  }

  // Paged jobs (RFM, segment backfills and rechecks, date triggers, the sweeper): progress bars,
  // refreshed every 2 s while one is queued or running.
  function jobRows(jobs) {
    return table([
      { label: "job", text: true, value: (j) => j.id },
      { label: "kind", text: true, value: (j) => j.kind },
      { label: "status", text: true, value: (j) => j.status + (j.error ? ": " + j.error : "") },
      { label: "progress", text: true, value: (j) => el("span", { class: "job-progress" },
        el("progress", { max: 1, value: j.progress, "aria-label": j.kind + " progress" }), " " + pct(j.progress)) },
      { label: "pass", text: true, value: (j) => j.pass || "–" },
      { label: "counts", text: true, value: (j) => Object.entries(j.counts).map(([k, v]) => k + " " + num(v)).join(", ") || "–" },
      { label: "invocations", value: (j) => num(j.invocations) },
      { label: "updated", text: true, value: (j) => when(j.updated_at) },
    ], jobs, { id: "jobs" });
  }
  const isOpen = (job) => job.status === "queued" || job.status === "running";

  async function jobsView(view) {
    const { jobs } = await api("admin/jobs?limit=5");
    view.append(el("h2", null, "Jobs ", el("span", { class: "muted" }, "the newest five of each kind, newest first")));
    if (!jobs.length) view.append(el("p", { class: "muted" }, "No jobs yet: they start on their schedules, or with POST /admin/jobs/rfm."));
    else view.append(jobRows(jobs));
    if (jobs.some(isOpen)) refresh = setTimeout(() => location.hash.startsWith("#/jobs") && render(), 2000);
  }

  // Broadcasts: one-off campaigns to a saved segment, their progress (sent / held / skipped /
  // failed, refreshed every 2 s while one sends) and their step's figures.
  const BROADCAST_COUNTS = ["sent", "held", "skipped", "failed"];
  const isSending = (b) => b.status === "queued" || b.status === "sending";
  const progressBar = (value, label) => el("span", { class: "job-progress" },
    el("progress", { max: 1, value: value, "aria-label": label }), " " + pct(value));

  async function broadcastsView(view, name) {
    if (name) return broadcastView(view, name);
    const { broadcasts } = await api("admin/broadcasts");
    view.append(el("h2", null, "Broadcasts ", el("span", { class: "muted" }, "newest first")));
    if (!broadcasts.length) {
      view.append(el("p", { class: "muted" }, "No broadcasts yet: autofunnel broadcast send FILE, or PUT /admin/broadcasts/{name}."));
      return;
    }
    view.append(table([
      { label: "broadcast", text: true, value: (b) => el("a", { href: "#/broadcasts/" + encodeURIComponent(b.name) }, b.name) },
      { label: "segment", text: true, value: (b) => b.segment },
      { label: "status", text: true, value: (b) => b.status + (b.status === "scheduled" ? " for " + when(b.at) : "") },
      { label: "progress", text: true, value: (b) => progressBar(b.progress, b.name + " progress") },
      ...BROADCAST_COUNTS.map((k) => ({ label: k, value: (b) => num(b.counts[k] || 0) })),
      { label: "starts", text: true, value: (b) => when(b.starts_at) },
    ], broadcasts, { id: "broadcasts" }));
    if (broadcasts.some(isSending)) refresh = setTimeout(() => location.hash === "#/broadcasts" && render(), 2000);
  }

  async function broadcastView(view, name) {
    const b = await api("admin/broadcasts/" + encodeURIComponent(name));
    const what = b.funnel ? "hand-over to " + b.funnel : b.channels.join(", ");
    view.append(el("h2", null, b.name, " ", el("span", { class: "muted" }, "to " + b.segment + " · " + what)));
    view.append(el("p", { id: "broadcast-status" }, b.status + (b.status === "scheduled" ? " for " + when(b.at) : ""), " ",
      progressBar(b.progress, b.name + " progress")));
    view.append(el("div", { class: "cards", id: "broadcast-counts" },
      card("members", num(b.counts.members || 0), "members"),
      BROADCAST_COUNTS.map((k) => card(k, num(b.counts[k] || 0), k)),
      card("opted out", num(b.counts.opted_out || 0), "opted_out"),
      card("unreachable", num(b.counts.unreachable || 0), "unreachable")));
    const s = b.stats;
    view.append(el("h3", null, "Figures ", el("span", { class: "muted" }, "as a funnel step's")),
      el("div", { class: "cards", id: "broadcast-stats" },
        card("sent", num(s.sent), "stat-sent"), card("delivered", num(s.delivered), "stat-delivered"),
        card("opened", num(s.opened), "stat-opened"), card("clicked", num(s.clicked), "stat-clicked"),
        card("unsubscribed", num(s.unsubscribed), "stat-unsubscribed"),
        card("attributed orders", num(s.attributed_orders), "stat-orders"),
        card("attributed revenue", money(s.attributed_revenue), "stat-revenue"),
        card("still held", num(s.waiting), "stat-waiting")));
    if (b.job && b.job.error) view.append(el("p", { class: "error" }, b.job.error));
    if (["scheduled", "queued", "sending"].includes(b.status) || s.waiting > 0) {
      view.append(el("p", null, el("button", { type: "button", id: "broadcast-cancel", onclick: async () => {
        if (!confirm("Cancel " + b.name + "? Nothing more is sent, and what quiet hours hold is dropped.")) return;
        await api("admin/broadcasts/" + encodeURIComponent(b.name) + "/cancel", {});
        render();
      } }, b.status === "done" ? "Drop what is still held" : "Cancel")));
    }
    view.append(el("h3", null, "Definition"), el("pre", { class: "props" }, JSON.stringify(b.definition, null, 1)));
    if (isSending(b)) refresh = setTimeout(() => location.hash === "#/broadcasts/" + encodeURIComponent(name) && render(), 2000);
  }

  async function contactsView(view, contactId) {
    const form = el("form", { class: "search", id: "contact-search" },
      el("label", null, "Find a contact by ",
        el("select", { id: "search-kind" }, ["email", "phone", "user_id", "anonymous_id", "telegram"].map((k) => el("option", { value: k }, k)))),
      " ", el("input", { id: "search-value", type: "search", required: true, placeholder: "ann@example.com" }),
      " ", el("button", { type: "submit" }, "Search"),
      el("p", { id: "search-result", class: "muted" }));
    view.append(el("h2", null, "Contacts"), form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const kind = $("search-kind").value;
      const value = $("search-value").value.trim();
      const { contacts } = await api("admin/contacts?" + new URLSearchParams({ [kind]: value }));
      if (!contacts.length) {
        $("search-result").textContent = "Nobody with " + kind + " " + value + ".";
        return;
      }
      location.hash = "#/contact/" + encodeURIComponent(contacts[0].contact_id);
    });
    if (contactId) await contactView(view, contactId);
  }

  async function contactView(view, contactId) {
    const id = encodeURIComponent(contactId);
    const [profile, journey] = await Promise.all([api("admin/contacts/" + id), api("admin/stats/contacts/" + id)]);
    const email = (profile.identities || []).find((i) => i.kind === "email");
    const section = el("section", { id: "contact" });
    view.append(section);
    section.append(el("h3", null, "Contact ", profile.contact_id, email ? " · " + email.value : ""));
    section.append(el("div", { class: "cards" },
      card("first touch", journey.cohort ? journey.cohort + (journey.campaign ? " / " + journey.campaign : "") : "–"),
      card("orders", num(journey.orders)), card("lifetime value", money(journey.ltv), "ltv"),
      card("RFM", journey.rfm ? journey.rfm.segment.replace("_", " ") + " (" + journey.rfm.r + journey.rfm.f + journey.rfm.m + ")" : "not scored"),
      card("segments", journey.segments.join(", ") || "–")));
    section.append(el("h3", null, "Timeline"), table([
      { label: "time", text: true, value: (e) => when(e.timestamp) },
      { label: "event", text: true, value: (e) => e.name },
      { label: "type", text: true, value: (e) => e.type },
      { label: "properties", text: true, value: (e) => el("pre", { class: "props" }, JSON.stringify(e.properties || {}, null, 1)) },
    ], profile.timeline || [], { id: "timeline" }));
    section.append(el("h3", null, "Messages"), table([
      { label: "created", text: true, value: (m) => when(m.created_at) },
      { label: "funnel / step", text: true, value: (m) => (m.funnel || "") + " / " + (m.step_id || "") },
      { label: "channel", text: true, value: (m) => m.channel },
      { label: "subject", text: true, value: (m) => m.subject || "" },
      { label: "status", text: true, value: (m) => m.history.map((h) => h.status).join(" → ") || m.status },
    ], journey.messages, { id: "messages" }));
    section.append(el("h3", null, "Enrollments"), table([
      { label: "funnel", text: true, value: (e) => e.funnel + " v" + e.version },
      { label: "status", text: true, value: (e) => e.status },
      { label: "step", text: true, value: (e) => e.step || "–" },
      { label: "started", text: true, value: (e) => when(e.started_at) },
      { label: "ended", text: true, value: (e) => when(e.ended_at) },
      { label: "value", value: (e) => (e.value === null || e.value === undefined ? "–" : money(e.value)) },
    ], journey.enrollments, { id: "enrollments" }));
  }

  // --- routing and sign-in ---------------------------------------------------------------
  const ROUTES = {
    funnels: funnelsView, funnel: funnelView, messages: messagesView, preview: previewView,
    limits: limitsView, trends: trendsView,
    cohorts: cohortsView, rfm: rfmView, segments: segmentsView, contacts: contactsView,
    contact: contactsView, jobs: jobsView, broadcasts: broadcastsView,
  };

  async function render() {
    clearTimeout(refresh);
    charts.forEach((c) => c.destroy());
    charts = [];
    const view = $("view");
    view.replaceChildren();
    view.removeAttribute("data-ready");
    const signedIn = Boolean(sessionStorage.getItem(KEY));
    $("sign-in").hidden = signedIn;
    $("nav").hidden = !signedIn;
    if (!signedIn) return;
    const [, page, arg] = (location.hash || "#/funnels").split("/");
    const show = ROUTES[page] || funnelsView;
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.getAttribute("href") === "#/" + (page === "funnel" ? "funnels" : page === "contact" ? "contacts" : page));
    try {
      await show(view, arg === undefined ? undefined : decodeURIComponent(arg));
    } catch (error) {
      if (error instanceof SignedOut) {
        $("sign-in-error").textContent = error.message;
        return render();
      }
      view.append(el("p", { class: "error", role: "alert" }, "Could not load this page: " + error.message));
    }
    view.setAttribute("data-ready", page || "funnels"); // for tests: the page finished loading
  }

  document.addEventListener("DOMContentLoaded", () => {
    mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
    $("sign-in").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("admin-key").value.trim());
      $("sign-in-error").textContent = "";
      render();
    });
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      render();
    });
    window.addEventListener("hashchange", render);
    render();
  });
})();
