// 示例市政务服务智能客服 — the citizen chat page.
// One session per device (token in localStorage; after a sign-in marked "在公共设备上", in
// sessionStorage, which ends when the tab closes). The token is forgotten after a day unused or
// a week in all. Messages go out through an outbox that survives reloads and network loss; each
// carries a client_id so a re-send never duplicates.
(() => {
  "use strict";
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  const chat = $("chat"), input = $("input"), form = $("form"), send = $("send");
  const statusBox = $("status"), statusText = $("status-text"), net = $("net");
  const SESSION_IDLE_MS = 24 * 3600 * 1000, SESSION_MAX_MS = 7 * 24 * 3600 * 1000;
  const onPublic = () => { try { return sessionStorage.getItem("banshi.public") === "1"; } catch { return false; } };
  const backend = () => (onPublic() ? sessionStorage : localStorage);
  const store = {
    get: (k) => { try { return JSON.parse(backend().getItem("banshi." + k)); } catch { return null; } },
    set: (k, v) => backend().setItem("banshi." + k, JSON.stringify(v)),
    del: (k) => backend().removeItem("banshi." + k),
    // A public device: from now on everything lives in sessionStorage (gone when the tab
    // closes) and nothing of this conversation stays in localStorage.
    usePublic: () => {
      if (onPublic()) return;
      const keys = [];
      for (let i = 0; i < localStorage.length; i++) { const k = localStorage.key(i); if (k && k.startsWith("banshi.")) keys.push(k); }
      for (const k of keys) { sessionStorage.setItem(k, localStorage.getItem(k)); localStorage.removeItem(k); }
      sessionStorage.setItem("banshi.public", "1");
    },
    public: onPublic,
  };
  let session = store.get("session");
  const now = Date.now();
  if (session && !(session.used > now - SESSION_IDLE_MS && session.created > now - SESSION_MAX_MS)) {
    // Expired (or saved before tokens expired): start afresh, signed out.
    session = null; ["session", "citizen", "outbox", "rated"].forEach(store.del);
  }
  let outbox = store.get("outbox") || [];
  let busy = false;
  let lastId = 0;

  // ---------- helpers ----------
  const { el, readSse } = window.banshiDom;
  const scroll = () => { chat.scrollTop = chat.scrollHeight; };
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2));
  const showStatus = (t) => { statusText.textContent = t; statusBox.hidden = false; };
  const hideStatus = () => { statusBox.hidden = true; };
  const setBusy = (b) => { busy = b; send.disabled = b; };

  async function api(path, opts = {}) {
    const headers = Object.assign({ "Content-Type": "application/json" }, opts.headers || {});
    if (session) headers.Authorization = "Bearer " + session.token;
    const res = await fetch(API + path, Object.assign({}, opts, { headers }));
    // Refresh the last-use time of the stored session only: a session the device has dropped
    // (signed out, storage cleared) is not brought back by a request still in flight.
    const kept = store.get("session");
    if (session && kept && kept.id === session.id && res.status !== 401 && res.status !== 404) { session.used = Date.now(); store.set("session", session); }
    if (!res.ok && res.status !== 200) {
      let body = {};
      try { body = await res.json(); } catch {}
      const err = new Error((body.error && body.error.message) || ("请求失败（" + res.status + "）"));
      err.status = res.status; err.code = body.error && body.error.code; err.fields = body.error && body.error.fields;
      err.retryAfter = Number(res.headers.get("Retry-After") || 0);
      throw err;
    }
    return res;
  }

  async function ensureSession() {
    if (session) return;
    const res = await api("/sessions", { method: "POST", body: JSON.stringify({ channel: "web" }) });
    const b = await res.json();
    session = { id: b.session_id, token: b.token, created: Date.now(), used: Date.now() };
    store.set("session", session);
  }

  // ---------- rendering ----------
  function userBubble(text, pending) {
    const meta = el("div", { class: "meta" }, pending ? "发送中…" : "");
    const node = el("section", { class: "msg user" + (pending ? " pending" : "") }, el("div", { class: "bubble" }, el("div", { class: "answer" }, text), meta));
    chat.append(node); scroll();
    return { node, meta };
  }

  function card(c) {
    const rows = [];
    const row = (k, v) => { if (v && (!Array.isArray(v) || v.length)) rows.push(el("dt", {}, k), el("dd", {}, Array.isArray(v) ? el("ul", {}, v.map((x) => el("li", {}, x))) : v)); };
    row("申请材料", c.materials);
    const limits = [c.legal_time_limit && "法定 " + c.legal_time_limit, c.promised_time_limit && "承诺 " + c.promised_time_limit].filter(Boolean);
    row("办理时限", limits.length ? limits.join("；") : "办事指南未载明");
    row("收费标准", c.fees || "办事指南未载明");
    row("办理地点", c.places);
    row("咨询电话", c.consult_phone);
    row("投诉电话", c.complaint_phone);
    return el("div", { class: "card" },
      el("div", { class: "card-head" },
        el("h3", {}, c.name, el("span", { class: "badge kind" }, c.kind), c.sample ? el("span", { class: "badge sample", title: "示例市为虚构城市，数据仅供演示" }, "示例数据") : null),
        el("div", { class: "dept" }, c.department)),
      el("dl", {}, rows),
      el("button", { class: "more", type: "button", onclick: () => openGuide(c.code) }, "查看完整办事指南 ›"));
  }

  // Text with [n] markers turned into buttons that open the cited section.
  function withCitations(text, sources) {
    const frag = document.createDocumentFragment();
    const byN = new Map((sources || []).map((s) => [s.n, s]));
    let last = 0;
    for (const m of text.matchAll(/\[(\d+)\]/g)) {
      frag.append(text.slice(last, m.index));
      const s = byN.get(Number(m[1]));
      frag.append(s ? el("button", { class: "cite", type: "button", "aria-label": "出处" + m[1] + "：" + s.item + " " + s.title, onclick: () => openSource(s) }, m[1]) : m[0]);
      last = m.index + m[0].length;
    }
    frag.append(text.slice(last));
    return frag;
  }

  function sourceList(sources) {
    if (!sources || !sources.length) return null;
    return el("div", { class: "sources" }, "出处：", sources.map((s) =>
      el("div", {}, el("button", { type: "button", onclick: () => openSource(s) }, "[" + s.n + "] " + s.item + " · " + s.title))));
  }

  // What verification took out of a generated answer, folded away under a one-line notice.
  function removedNotice(removed) {
    return el("details", { class: "notice removed" }, el("summary", {}, "已删去" + removed.length + "句无法在办事指南中核实的内容"),
      el("ul", {}, removed.map((r) => el("li", {}, r.text + (r.reason ? "（" + r.reason + "）" : "")))));
  }

  // An assistant turn being streamed (or replayed from history).
  function assistantTurn(role = "assistant") {
    const bubble = el("div", { class: "bubble" });
    const node = el("section", { class: "msg " + role }, bubble);
    chat.append(node);
    const answer = el("div", { class: "answer" });
    const t = { text: "", bubble, answer, node, sources: [] };
    t.render = () => { answer.replaceChildren(withCitations(t.text, t.sources)); };
    t.onEvent = (name, d) => {
      switch (name) {
        case "status": showStatus(d.message); break;
        case "sources": bubble.prepend(card(d.card)); break;
        case "token":
          // Provisional until citations / settled / replace confirm it, or withdraw takes it back.
          if (!answer.isConnected) bubble.append(answer);
          t.text += d.text; t.provisional = true; t.render(); hideStatus(); break;
        case "citations":
          t.provisional = false;
          t.sources = d.sources || []; t.render();
          const list = sourceList(t.sources); if (list) bubble.append(list); break;
        case "withdraw":
          t.text = ""; t.provisional = false; answer.replaceChildren(); answer.remove();
          bubble.append(el("div", { class: "notice withdrawn" }, d.reason || "生成的内容未能核实，已撤回")); break;
        case "done":
          // The stream contract: whatever is still unconfirmed and is not the stored answer goes.
          if (t.provisional && typeof d.text === "string" && t.text !== d.text) { t.text = ""; answer.replaceChildren(); answer.remove(); }
          t.provisional = false;
          // The form and the buttons go under the text that introduces them.
          if (t.form) bubble.append(t.form);
          if (t.actions) bubble.append(t.actions);
          // Answers taken straight from the guide are labelled as such (no model, or the
          // fact is not stated); a replaced answer already says why.
          if (d.kind === "extractive" && !t.replaced && answer.isConnected) answer.before(el("div", { class: "label" }, "以下内容摘自办事指南原文"));
          break;
        case "settled":
          t.provisional = false; t.text = d.text; t.sources = d.sources || [];
          if (!answer.isConnected) bubble.append(answer);
          if (d.removed && d.removed.length) answer.before(removedNotice(d.removed));
          t.render(); const l1 = sourceList(t.sources); if (l1) bubble.append(l1); break;
        case "replace":
          t.replaced = true; t.provisional = false;
          t.text = d.text; t.sources = d.sources || [];
          if (!answer.isConnected) bubble.append(answer);
          answer.before(el("div", { class: "notice" }, "以下为办事指南原文摘录（" + d.reason + "）"));
          t.render(); const l2 = sourceList(t.sources); if (l2) bubble.append(l2); break;
        case "clarify":
          bubble.append(el("p", {}, d.question), el("div", { class: "options" },
            d.options.map((o, i) => el("button", { type: "button", onclick: () => submit(o) }, (i + 1) + ". " + o)))); break;
        case "decline":
          bubble.append(el("p", {}, d.message));
          if (d.offer_human) bubble.append(el("a", { class: "call", href: "tel:12345" }, "☎ 拨打 12345 政务服务便民热线"));
          break;
        case "handoff":
          if (!answer.isConnected) bubble.append(answer);
          t.text = d.message; t.render(); hideStatus(); break;
        case "ticket": showTicket(d); break;
        case "bundle": bubble.prepend(apply.bundleCard(d.card)); break;
        case "form": t.form = apply.formCard(d.form); break;
        case "actions": t.actions = apply.actions(d.actions); break;
        case "curated": bubble.prepend(el("div", { class: "label curated" }, "经审核的标准答复 · 来源：" + d.source)); break;
        case "error":
          bubble.append(el("p", { class: "notice" }, d.message || "回答出错，请稍后再试")); break;
      }
      scroll();
    };
    return t;
  }

  // Message ids on screen, so live events and history never show one twice.
  const shown = new Set();

  function personBubble(m) {
    if (m.role === "system") {
      chat.append(el("section", { class: "msg system", "data-id": m.id }, el("div", { class: "bubble" }, m.text)));
    } else {
      chat.append(el("section", { class: "msg agent", "data-id": m.id }, el("div", { class: "bubble" },
        el("div", { class: "who" }, "人工客服" + (m.meta && m.meta.agent ? " · " + m.meta.agent : "")), el("div", { class: "answer" }, m.text))));
    }
    scroll();
  }

  // Messages stored without their shown events (older answers, agent-side records).
  function renderLegacy(t, m, meta) {
    if (meta.card) t.onEvent("sources", { card: meta.card });
    if (meta.bundle) t.onEvent("bundle", { card: meta.bundle });
    if (meta.form) t.onEvent("form", { form: meta.form });
    if (meta.actions) t.onEvent("actions", { actions: meta.actions });
    if (meta.curated) t.onEvent("curated", meta.curated);
    if (meta.handoff_reason) t.onEvent("handoff", { message: m.text });
    else if (meta.clarify) t.onEvent("clarify", meta.clarify);
    else if (meta.offer_human !== undefined) t.onEvent("decline", { message: m.text, offer_human: meta.offer_human });
    else {
      if (meta.replaced_because) t.onEvent("replace", { text: m.text, reason: meta.replaced_because, sources: meta.sources });
      else if (meta.removed) { t.onEvent("settled", { text: m.text, removed: meta.removed, sources: meta.sources }); }
      else { t.onEvent("token", { text: m.text }); if (meta.sources && meta.sources.length) t.onEvent("citations", { sources: meta.sources }); }
      t.onEvent("done", { kind: m.kind });
    }
  }

  function renderStored(m) {
    lastId = Math.max(lastId, m.id);
    if (shown.has(m.id)) return;
    shown.add(m.id);
    if (m.role === "user") { userBubble(m.text, false); return; }
    if (m.role === "agent" || m.role === "system") { personBubble(m); return; }
    const t = assistantTurn(m.role === "agent" ? "agent" : "assistant");
    const meta = m.meta || {};
    if (Array.isArray(meta.shown)) {
      // The events the citizen was left with when it streamed: the same rendering as live.
      for (const ev of meta.shown) t.onEvent(ev.type, ev);
      t.onEvent("done", { kind: m.kind, text: m.text });
    } else renderLegacy(t, m, meta);
    if (meta.prereview) { t.answer.remove(); t.bubble.append(apply.reportCard(meta.prereview.report)); }
    if (meta.application && m.kind === "submitted") t.bubble.append(apply.tracking(meta.application));
    if (m.status === "interrupted") t.bubble.append(el("div", { class: "meta" }, "（回答未完成）"));
  }

  // ---------- SSE over fetch (POST) ----------
  async function streamAnswer(item) {
    const res = await api("/sessions/" + session.id + "/messages", { method: "POST", body: JSON.stringify({ text: item.text, client_id: item.client_id }) });
    const t = assistantTurn();
    let done = false, kind = null;
    await readSse(res, (name, d) => {
      if (name === "message") { lastId = Math.max(lastId, d.message_id); shown.add(d.message_id); return; }
      if (name === "done") {
        lastId = Math.max(lastId, d.message_id); shown.add(d.message_id); done = true; kind = d.kind;
        // Forwarded to the agent: no assistant bubble, the status line says where it went.
        if (d.kind === "forwarded") { t.node.remove(); return; }
      }
      t.onEvent(name, d);
    });
    if (!done) throw Object.assign(new Error("连接中断"), { network: true, turn: t });
    return kind;
  }

  // ---------- live channel: agent replies, queue position, rating requests ----------
  const banner = $("handoff");
  function showTicket(d) {
    if (d.status === "resolved") { banner.hidden = true; return; }
    banner.hidden = false;
    banner.textContent = d.status === "pending"
      ? "已转人工 · 您前面还有 " + Math.max(0, (d.position || 1) - 1) + " 位，预计等待约 " + (d.eta_minutes || 1) + " 分钟"
      : "人工客服" + (d.agent ? " " + d.agent + " " : "") + "正在为您服务";
  }

  const rated = new Set(store.get("rated") || []);
  function askRating(ticketId) {
    const key = ticketId ? "t" + ticketId : "session";
    if (rated.has(key) || chat.querySelector('[data-rate="' + key + '"]')) return;
    const levels = [[5, "非常满意"], [4, "满意"], [3, "基本满意"], [2, "不满意"], [1, "非常不满意"]];
    const comment = el("textarea", { rows: "2", maxlength: "500", placeholder: "意见或建议（选填）", "aria-label": "评价意见" });
    let level = null;
    const buttons = levels.map(([v, label]) => el("button", { type: "button", class: "level", "aria-pressed": "false", onclick: (e) => {
      level = v; box.querySelectorAll(".level").forEach((b) => b.setAttribute("aria-pressed", String(b === e.currentTarget)));
    } }, label));
    const submitBtn = el("button", { type: "button", class: "send-rating", onclick: async () => {
      if (!level) { note.textContent = "请先选择满意程度"; return; }
      try {
        const body = { level, comment: comment.value.trim() || null };
        if (ticketId) body.ticket_id = ticketId;
        await api("/sessions/" + session.id + "/ratings", { method: "POST", body: JSON.stringify(body) });
        rated.add(key); store.set("rated", [...rated]);
        box.replaceChildren(el("p", {}, "感谢您的评价！" + (level <= 2 ? "我们会安排工作人员回访。" : "")));
      } catch (e) {
        if (e.status === 409) { rated.add(key); store.set("rated", [...rated]); box.replaceChildren(el("p", {}, e.message)); }
        else note.textContent = e.message;
      }
    } }, "提交评价");
    const note = el("p", { class: "meta", role: "alert" });
    const box = el("div", { class: "rating", "data-rate": key, role: "group", "aria-label": "服务评价" },
      el("p", {}, ticketId ? "请对本次人工服务进行评价（好差评）：" : "请对本次咨询服务进行评价（好差评）："), el("div", { class: "levels" }, buttons), comment, submitBtn, note);
    chat.append(el("section", { class: "msg system" }, el("div", { class: "bubble" }, box))); scroll();
  }

  let liveCtl = null;
  async function ensureLive() {
    if (liveCtl || !session) return;
    liveCtl = new AbortController();
    let backoff = 1000;
    while (session && !liveCtl.signal.aborted) {
      try {
        const res = await fetch(API + "/sessions/" + session.id + "/events?after=" + lastId, { headers: { Authorization: "Bearer " + session.token }, signal: liveCtl.signal });
        if (!res.ok) throw Object.assign(new Error("HTTP " + res.status), { status: res.status });
        backoff = 1000;
        await readSse(res, (name, d) => {
          if (name === "message") { if (d.message.role !== "user" || !shown.has(d.message.id)) renderStored(d.message); }
          else if (name === "ticket") showTicket(d);
          else if (name === "rating_request") askRating(d.ticket_id);
        });
      } catch (e) {
        if (liveCtl.signal.aborted) break;
        if (e.status === 401) { liveCtl = null; return; }
      }
      await new Promise((r) => setTimeout(r, backoff)); backoff = Math.min(backoff * 2, 15000);
    }
    liveCtl = null;
  }

  // ---------- outbox ----------
  function persistOutbox() { store.set("outbox", outbox.map(({ text, client_id }) => ({ text, client_id }))); }

  async function flush() {
    if (busy || !outbox.length) return;
    setBusy(true);
    const item = outbox[0];
    try {
      await ensureSession();
      showStatus("正在检索办事指南…");
      const kind = await streamAnswer(item);
      outbox.shift(); persistOutbox();
      if (item.view) { item.view.node.classList.remove("pending"); item.view.meta.textContent = kind === "forwarded" ? "已送达人工客服" : ""; }
      ensureLive();
      hideStatus();
    } catch (e) {
      hideStatus();
      if (e.turn) e.turn.node.remove();
      if (e.status === 401 || e.status === 404) { session = null; store.del("session"); }
      if (e.status === 429) {
        item.view && (item.view.meta.textContent = e.message);
        setTimeout(() => { setBusy(false); flush(); }, Math.max(e.retryAfter, 3) * 1000);
        return;
      }
      if (e.status && e.status < 500 && e.status !== 401) {
        // The server refused this message for good: say why and drop it.
        outbox.shift(); persistOutbox();
        if (item.view) { item.view.node.classList.remove("pending"); item.view.meta.textContent = "未发送：" + e.message; }
      } else {
        if (item.view) {
          item.view.meta.replaceChildren("发送失败，", el("button", { class: "retry", type: "button", onclick: () => { setBusy(false); flush(); } }, "点击重试"));
        }
        setBusy(false);
        setTimeout(flush, 5000);
        return;
      }
    }
    setBusy(false);
    if (outbox.length) flush();
  }

  function submit(text) {
    text = text.trim();
    if (!text) return;
    const item = { text, client_id: uuid() };
    item.view = userBubble(text, true);
    outbox.push(item); persistOutbox();
    input.value = ""; resize();
    flush();
  }

  // ---------- guide drawer ----------
  const drawer = $("drawer"), drawerBody = $("drawer-body"), drawerTitle = $("drawer-title");
  let lastFocus = null;
  function openDrawer(title, ...content) {
    lastFocus = document.activeElement;
    drawerTitle.textContent = title; drawerBody.replaceChildren(...content);
    drawer.hidden = false; $("drawer-close").focus();
  }
  function closeDrawer() { drawer.hidden = true; if (lastFocus) lastFocus.focus(); }
  $("drawer-close").addEventListener("click", closeDrawer);
  drawer.addEventListener("click", (e) => { if (e.target === drawer) closeDrawer(); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !drawer.hidden) closeDrawer(); });

  function openSource(s) {
    openDrawer("出处 [" + s.n + "]", el("h4", {}, s.item + " · " + s.title), el("div", { class: "quote" }, s.text.replace(/^【[^】]*】[^：]*：/, "")),
      el("p", {}, el("button", { class: "cite", type: "button", onclick: () => openGuide(s.code) }, "查看完整办事指南")));
  }

  async function openGuide(code) {
    let g;
    try { g = await (await api("/items/" + encodeURIComponent(code))).json(); }
    catch (e) { openDrawer("办事指南", el("p", {}, e.message)); return; }
    const sec = (title, ...body) => [el("h4", {}, title), ...body];
    const list = (xs) => el("ul", {}, xs.map((x) => el("li", {}, x)));
    const lim = (t) => t ? (t.days === 0 ? "即办" : t.days + ({ calendar_days: "日", months: "个月" }[t.unit] || "个工作日")) + (t.note ? "（" + t.note + "）" : "") : "未载明";
    const parts = [
      el("p", {}, g.department, " · ", g.kind, g.source && g.source.kind === "sample" ? el("span", { class: "badge sample" }, "示例数据") : null),
      ...(g.conditions && g.conditions.length ? sec("受理条件", list(g.conditions)) : []),
      ...(g.materials && g.materials.length ? sec("申请材料", el("table", {}, el("tr", {}, el("th", {}, "材料"), el("th", {}, "要求")),
        g.materials.map((m) => el("tr", {}, el("td", {}, m.name), el("td", {},
          [m.required ? "必要" : "非必要", m.originals ? "原件" + m.originals + "份" : "", m.copies ? "复印件" + m.copies + "份" : "",
           m.e_licence ? "可用电子证照" : "", m.tolerance ? "可容缺" : "", m.notes || ""].filter(Boolean).join("；")))))) : []),
      ...(g.process && g.process.length ? sec("办理流程", el("ol", {}, g.process.map((p) => el("li", {}, p.name + (p.description ? "：" + p.description : ""))))) : []),
      ...sec("办理时限", el("p", {}, "法定时限：" + lim(g.legal_time_limit)), el("p", {}, "承诺时限：" + lim(g.promised_time_limit))),
      ...sec("收费标准", el("p", {}, g.fees === undefined || g.fees === null ? "未载明" : g.fees.length === 0 ? "不收费" : g.fees.map((f) => f.name + (f.amount_yuan != null ? f.amount_yuan + "元" : "") + (f.note ? "（" + f.note + "）" : "")).join("；"))),
      ...(g.places && g.places.length ? sec("办理地点", list(g.places.map((p) => p.name + (p.address ? "，" + p.address : "") + (p.hours ? "，" + p.hours : "")))) : []),
      ...sec("咨询与投诉", el("p", {}, "咨询电话：" + (g.consult_phone || "未载明")), el("p", {}, "投诉电话：" + (g.complaint_phone || "未载明"))),
      ...(g.legal_basis && g.legal_basis.length ? sec("设定依据", list(g.legal_basis)) : []),
      ...(g.faq && g.faq.length ? sec("常见问题", ...g.faq.map((f) => el("p", {}, el("strong", {}, "问：" + f.q), el("br"), "答：" + f.a))) : []),
    ];
    openDrawer(g.name, ...parts);
  }

  async function openItems(href, label) {
    try {
      const page = await (await fetch(href)).json();
      openDrawer(label, el("div", { class: "itemlist" }, page.items.map((i) =>
        el("button", { type: "button", onclick: () => { closeDrawer(); submit(i.name + "需要什么材料？"); } }, i.name))));
    } catch { openDrawer(label, el("p", {}, "暂时无法获取事项列表，请稍后再试")); }
  }

  // ---------- start-up ----------
  async function loadQuick() {
    try {
      const q = await (await fetch(API + "/quick-actions")).json();
      $("quick").replaceChildren(...q.actions.map((a) => el("button", { type: "button", "data-id": a.id, onclick: () => {
        if (a.kind === "items") openItems(a.href, a.label);
        else if (a.kind === "prefill") { input.value = a.text; input.focus(); resize(); }
        else if (a.kind === "send") submit(a.text);
        else if (a.kind === "rate") { if (session) askRating(null); else submit("你好"); }
        else if (a.kind === "upload") apply.openUpload();
      } }, a.label)));
    } catch {}
  }

  // client_ids seen in history, and those whose answer finished.
  const seen = new Map(), answered = new Set();
  async function loadHistory() {
    if (!session) return;
    try {
      let after = 0;
      for (;;) {
        const h = await (await api("/sessions/" + session.id + "/messages?after=" + after)).json();
        for (const m of h.messages) {
          if (m.client_id) seen.set(m.id, m.client_id);
          if (m.reply_to && m.status === "complete" && seen.has(m.reply_to)) answered.add(seen.get(m.reply_to));
          renderStored(m);
        }
        if (!h.next_after) break;
        after = h.next_after;
      }
      scroll();
    } catch (e) {
      if (e.status === 401 || e.status === 404) { session = null; store.del("session"); }
    }
  }

  function resize() {
    input.style.height = "auto"; input.style.height = Math.min(input.scrollHeight, 160) + "px";
    $("counter").textContent = input.value.length + "/500";
  }
  input.addEventListener("input", resize);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(input.value); } });
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(input.value); });

  window.banshiElder({ el, api, store, submit, session: () => session });
  $("restart").addEventListener("click", () => {
    if (!confirm("开始新的咨询？当前对话记录将不再显示。")) return;
    if (liveCtl) { liveCtl.abort(); liveCtl = null; }
    banner.hidden = true; shown.clear(); rated.clear(); store.del("rated");
    session = null; store.del("session"); outbox = []; persistOutbox(); apply.signedOut();
    chat.querySelectorAll(".msg:not(.welcome)").forEach((n) => n.remove());
  });

  const apply = window.banshiApply({ el, api, submit, scroll, openDrawer, closeDrawer, store, ensureSession, session: () => session,
    // A report the drawer produced: shown as an assistant message (history has it stored too).
    showReport: (r, refused) => {
      const t = assistantTurn(); t.bubble.append(apply.reportCard(r));
      // The person the second failed review asks for could not be reached: say where to call.
      if (refused) t.onEvent("decline", { message: refused, offer_human: true });
      scroll();
    },
    showTicketNotice: () => ensureLive(),
    replaceForm: (f) => { const old = chat.querySelector(".formcard:not(.stale)"); if (old) old.replaceWith(apply.formCard(f)); } });

  const say = (text) => { const t = assistantTurn(); t.bubble.append(el("p", {}, text)); scroll(); return t; };
  const offers = window.banshiOffers({ el, api, scroll, session: () => session, notice: say,
    showForm: (f, text) => { say(text).bubble.append(apply.formCard(f)); scroll(); } });
  window.banshiProxies({ el, api, session: () => session, openDrawer, closeDrawer, notice: say });

  const online = () => { net.hidden = navigator.onLine; if (navigator.onLine) flush(); };
  window.addEventListener("online", online); window.addEventListener("offline", online);

  (async () => {
    await loadQuick();
    await loadHistory();
    // Messages typed before a reload or network loss: show and send them again (same client_id).
    outbox = outbox.filter((i) => !answered.has(i.client_id)); persistOutbox();
    const shown = new Set(seen.values());
    outbox.forEach((item) => { item.view = shown.has(item.client_id) ? null : userBubble(item.text, true); });
    online();
    flush();
    ensureLive();
    if (store.get("citizen")) offers.refresh();
  })();
})();
