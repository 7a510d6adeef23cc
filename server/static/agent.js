// 12345 坐席工作台 — the agent console. Token in sessionStorage (one log-in per tab); live
// updates over a fetch-read SSE stream (/api/v1/agent/events) with reconnect; every action is
// an API call whose answer is the new truth. The 申请 tab is the departments' side of 边聊边办:
// applications by status, one with its values and their sources, and buttons for exactly the
// steps the server allows next (`next`; the store refuses any other step with 409).
(() => {
  "use strict";
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  const { el, readSse } = window.banshiDom;
  let me = null;
  let view = "queue";
  let current = null;           // ticket id shown in the detail panel
  let detail = null;            // its loaded detail
  const tickets = new Map();    // open tickets by id, kept live
  let stream = null;            // AbortController of the live stream
  let apps = [];                // the applications listed (newest first)
  let appFilter = "";           // status shown in the 申请 tab ("" = all)
  let currentApp = null;        // tracking number shown in the detail panel

  const REASON = { asked_human: "要求人工", complaint: "投诉求助", low_confidence: "知识库未覆盖", angry: "情绪激动", form_failed: "表单未通过", prereview_failed: "预审未通过", bad_rating: "差评回访", suggestion: "建言" };
  const STATUS = { pending: "待接单", assigned: "处理中", resolved: "已办结" };
  const KIND = { handoff: "转人工", follow_up: "整改回访", suggestion: "建言" };
  const LEVELS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"];
  const APP_STATUS = { submitted: "待受理", accepted: "已受理", in_review: "审核中", done: "已办结", returned: "已退回" };
  const APP_STEP = { accepted: "受理", in_review: "转入审核", done: "办结", returned: "退回" };
  const RETURN_REASONS = ["材料不清晰，请重新上传", "材料不全，请补充", "填写信息与证照不一致", "不符合办理条件"];
  const time = (s) => s ? new Date(s).toLocaleString("zh-CN", { hour12: false }) : "";
  const ago = (s) => { const m = Math.max(0, Math.round((Date.now() - new Date(s)) / 60000)); return m < 1 ? "刚刚" : m < 60 ? m + " 分钟前" : Math.round(m / 60) + " 小时前"; };

  const { api, toast, logout, token } = window.banshiStaff({
    storageKey: "banshi.staff",
    onLogin: () => start(),
    onLogout: () => { if (stream) stream.abort(); },
  });

  // ---------- lists ----------
  function visible() {
    const all = [...tickets.values()];
    const byQueue = (a, b) => a.priority - b.priority || a.id - b.id;
    return {
      queue: all.filter((t) => t.status === "pending" && t.kind !== "suggestion").sort(byQueue),
      mine: all.filter((t) => t.status === "assigned" && t.assignee_id === me.id && t.kind !== "suggestion").sort(byQueue),
      suggestions: all.filter((t) => t.kind === "suggestion" && t.status !== "resolved").sort((a, b) => a.id - b.id),
    };
  }

  function row(t) {
    const s = t.summary || {};
    const wants = (s.wants && s.wants[s.wants.length - 1]) || "";
    return el("li", {},
      el("button", { type: "button", class: "item" + (t.id === current ? " active" : "") + (t.priority === 1 ? " urgent" : ""), onclick: () => open(t.id), "aria-current": t.id === current ? "true" : null },
        el("div", { class: "item-top" }, el("strong", {}, "#" + t.id), el("span", { class: "tag r-" + t.reason }, REASON[t.reason] || t.reason),
          t.priority === 1 ? el("span", { class: "tag urgent" }, "紧急") : null, el("span", { class: "when" }, ago(t.created_at))),
        el("div", { class: "item-text" }, wants),
        el("div", { class: "item-meta" }, [t.appeal_type, t.domain, t.department].filter(Boolean).join(" · "))));
  }

  async function renderList() {
    const v = visible();
    $("n-queue").textContent = v.queue.length; $("n-mine").textContent = v.mine.length; $("n-suggestions").textContent = v.suggestions.length;
    const list = $("list");
    $("app-filter").hidden = view !== "applications";
    if (view === "stats") { list.replaceChildren(); return; }
    if (view === "applications") { renderApps(); return; }
    let items = v[view];
    if (view === "resolved") {
      try { items = await api("/agent/tickets?view=resolved"); } catch (e) { toast(e.message, true); items = []; }
    }
    list.replaceChildren(...(items.length ? items.map(row) : [el("li", { class: "none" }, view === "queue" ? "暂无等待中的工单" : "暂无")]));
  }

  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    view = b.dataset.view;
    document.querySelectorAll(".tabs button").forEach((x) => x.setAttribute("aria-selected", String(x === b)));
    $("app-filter").hidden = view !== "applications";
    if (view === "stats") showStats(); else if (view === "applications") loadApps(); else renderList();
  }));

  // ---------- applications (边聊边办, the departments' side) ----------
  function appRow(a) {
    const active = a.tracking_no === currentApp;
    return el("li", {},
      el("button", { type: "button", class: "item app" + (active ? " active" : ""), "data-no": a.tracking_no, onclick: () => openApp(a.tracking_no), "aria-current": active ? "true" : null },
        el("div", { class: "item-top" }, el("strong", {}, a.tracking_no), el("span", { class: "tag a-" + a.status }, APP_STATUS[a.status] || a.status),
          el("span", { class: "when" }, ago(a.updated_at))),
        el("div", { class: "item-text" }, a.target_name),
        el("div", { class: "item-meta" }, "提交于 " + time(a.submitted_at) + (a.promised_days != null ? " · 承诺 " + a.promised_days + " 个工作日" : ""))));
  }

  function renderApps() {
    const shown = appFilter ? apps.filter((a) => a.status === appFilter) : apps;
    $("list").replaceChildren(...(shown.length ? shown.map(appRow) : [el("li", { class: "none" }, appFilter ? "暂无" + APP_STATUS[appFilter] + "的申请" : "暂无申请")]));
    document.querySelectorAll("#app-filter button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.status === appFilter)));
  }

  // The tab's count: applications still waiting for a department's step.
  function countApps() { $("n-applications").textContent = apps.filter((a) => a.next && a.next.length).length; }

  async function loadApps() {
    try { apps = await api("/agent/applications"); } catch (e) { toast(e.message, true); return; }
    countApps();
    if (view === "applications") renderApps();
  }

  document.querySelectorAll("#app-filter button").forEach((b) => b.addEventListener("click", () => {
    if (b.dataset.status === "refresh") { loadApps(); return; }
    appFilter = b.dataset.status; renderApps();
  }));

  async function openApp(no) {
    currentApp = no; current = null;
    let d; try { d = await api("/agent/applications/" + encodeURIComponent(no)); } catch (e) { toast(e.message, true); return; }
    const i = apps.findIndex((a) => a.tracking_no === no);
    if (i >= 0) apps[i] = d; else apps.unshift(d);
    countApps();
    if (view === "applications") renderApps();
    renderApp(d);
  }

  function renderApp(d) {
    const act = (status) => status === "returned"
      ? el("button", { type: "button", class: "danger", "data-step": status, onclick: () => { $("return-form").hidden = false; $("return-note").focus(); } }, APP_STEP[status])
      : el("button", { type: "button", class: "primary", "data-step": status, onclick: () => step(d.tracking_no, status) }, APP_STEP[status] || status);
    const actions = d.next.length ? d.next.map(act) : [el("span", { class: "muted" }, d.status === "returned" ? "已退回，市民补正后将重新提交（新的受理编号）" : "已办结，无后续步骤")];
    const note = el("textarea", { id: "return-note", rows: "3", maxlength: "1000", placeholder: "写明需要市民补正的内容（必填，市民会看到）", "aria-label": "退回原因" });
    const chips = RETURN_REASONS.map((r) => el("button", { type: "button", class: "chip", onclick: () => { note.value = note.value ? note.value + "；" + r : r; note.focus(); } }, r));
    const returnForm = d.next.includes("returned") ? el("form", { id: "return-form", class: "return-form", hidden: true, onsubmit: (e) => {
      e.preventDefault();
      if (!note.value.trim()) { toast("退回须写明原因", true); note.focus(); return; }
      step(d.tracking_no, "returned", note.value.trim());
    } }, el("div", { class: "chips" }, chips), note,
      el("div", { class: "actions" }, el("button", { type: "submit", class: "danger" }, "确认退回"), el("button", { type: "button", onclick: () => { $("return-form").hidden = true; } }, "取消"))) : null;

    // The values in the form's order (labels from the live guide), then any the form no longer has.
    const labels = new Map((d.fields || []).map((f) => [f.key, f.label]));
    const keys = [...labels.keys()].filter((k) => k in d.values).concat(Object.keys(d.values).filter((k) => !labels.has(k)));
    const values = el("section", { class: "summary values", "aria-label": "申请信息" }, el("h3", {}, "申请信息（" + keys.length + " 项）"),
      el("dl", {}, keys.flatMap((k) => [el("dt", {}, labels.get(k) || k),
        el("dd", {}, String(d.values[k]), d.value_sources && d.value_sources[k] ? el("span", { class: "tag src" }, d.value_sources[k]) : null)])));
    const mats = Array.isArray(d.materials) && d.materials.length ? el("section", { class: "attachments" }, el("h3", {}, "材料"),
      el("ul", {}, d.materials.map((m) => el("li", {}, m.name + (m.required ? "" : "（可选）") + (m.exempt ? " · 免提交：" + m.exempt : "") + (m.tolerance ? " · 可容缺" : ""))))) : null;
    const pr = d.prereview;
    const prereview = pr ? el("section", { class: "attachments" }, el("h3", {}, "材料预审：" + ({ pass: "通过", fix: "需补正", fail: "不通过" }[pr.verdict] || pr.verdict))) : null;
    const history = el("section", { class: "attachments history-list" }, el("h3", {}, "办理记录"),
      el("ol", {}, (d.history || []).map((e) => el("li", {}, time(e.created_at) + " · " + (e.actor === "citizen" ? "市民" : e.actor.replace(/^user:/, "")) + " · " +
        (e.status === "submitted" ? "提交申请" : APP_STEP[e.status] || e.status) + (e.note ? "：" + e.note : "")))));
    $("detail").replaceChildren(...[
      el("header", { class: "detail-head" },
        el("h2", {}, "申请 " + d.tracking_no + " ", el("span", { class: "tag a-" + d.status }, APP_STATUS[d.status] || d.status)),
        el("p", { class: "muted" }, d.target_name + " · 提交于 " + time(d.submitted_at) + (d.accepted_at ? " · 受理于 " + time(d.accepted_at) : "") +
          (d.promised_days != null ? " · 承诺 " + d.promised_days + " 个工作日" : "")),
        d.returned_reason ? el("p", { class: "error" }, "退回原因：" + d.returned_reason) : null,
        el("div", { class: "actions", "aria-label": "可办理的步骤" }, actions), returnForm),
      values, mats, prereview, history,
    ].filter(Boolean));
  }

  async function step(no, status, note) {
    try {
      await api("/agent/applications/" + encodeURIComponent(no) + "/status", { method: "POST", body: JSON.stringify(note ? { status, note } : { status }) });
      toast("已" + APP_STEP[status]);
    } catch (e) { toast(e.message, true); }
    // Success or refusal (someone else moved it first), the server's state is shown.
    await openApp(no);
  }

  // Switch to the 申请 tab with application `no` open.
  async function showApp(no) {
    view = "applications";
    document.querySelectorAll(".tabs button").forEach((x) => x.setAttribute("aria-selected", String(x.dataset.view === view)));
    $("app-filter").hidden = false;
    await loadApps();
    await openApp(no);
  }

  // ---------- detail ----------
  async function open(id) {
    current = id; currentApp = null;
    try { detail = await api("/agent/tickets/" + id); } catch (e) { toast(e.message, true); return; }
    if (detail.ticket.status !== "resolved") tickets.set(id, detail.ticket);
    renderDetail(); renderList();
  }

  function bubble(m) {
    const who = { user: "市民", assistant: "智能客服", agent: "客服 " + ((m.meta && m.meta.agent) || ""), system: "系统" }[m.role];
    // What the model streamed and the turn took back: the citizen saw it briefly, so the agent can too.
    const withdrawn = ((m.meta && m.meta.withdrawn) || []).map((w) =>
      el("details", { class: "withdrawn" }, el("summary", {}, "已撤回的生成内容（" + w.reason + "）"), el("div", {}, w.text)));
    return el("div", { class: "msg " + m.role, "data-id": m.id }, el("div", { class: "who" }, who, el("span", { class: "when" }, time(m.created_at))), withdrawn, el("div", { class: "text" }, m.text));
  }

  function summaryCard(t) {
    const s = t.summary || {};
    const list = (xs) => xs && xs.length ? el("ul", {}, xs.map((x) => el("li", {}, x))) : el("p", { class: "muted" }, "无");
    return el("section", { class: "summary", "aria-label": "工单摘要" },
      el("h3", {}, "工单摘要"),
      el("dl", {},
        el("dt", {}, "市民诉求"), el("dd", {}, list(s.wants)),
        el("dt", {}, "已答复"), el("dd", {}, list(s.answered)),
        el("dt", {}, "待处理"), el("dd", {}, s.missing || ""),
        el("dt", {}, "分类"), el("dd", {}, [t.appeal_type, t.domain].filter(Boolean).join(" · ") || "未分类"),
        el("dt", {}, "建议部门"), el("dd", {}, t.department || "待定"),
        s.item ? el("dt", {}, "相关事项") : null, s.item ? el("dd", {}, s.item) : null));
  }

  function renderDetail() {
    const d = detail, t = d.ticket;
    const mine = t.status === "assigned" && (t.assignee_id === me.id || me.role === "admin");
    const act = (label, fn, cls = "") => el("button", { type: "button", class: cls, onclick: fn }, label);
    const actions = [];
    if (t.status === "pending" && t.kind !== "suggestion") actions.push(act("接单", () => claim(t.id), "primary"));
    if (mine) actions.push(act("退回队列", () => simple(t.id, "release")));
    if (mine || (t.kind === "suggestion" && t.status !== "resolved")) actions.push(act(t.kind === "suggestion" ? "已转交，办结" : "办结", () => resolve(t.id), "primary"));
    if (t.status === "resolved") actions.push(act("重新打开", () => reopen(t.id)));
    actions.push(act("转为知识", () => toKnowledge(t)));
    const transcript = el("div", { class: "transcript", id: "transcript", "aria-live": "polite" }, d.transcript.map(bubble));
    const ratings = d.ratings.length ? el("p", { class: "muted" }, "评价：" + d.ratings.map((r) => LEVELS[5 - r.level] + (r.comment ? "（" + r.comment + "）" : "")).join("；")) : null;
    const history = el("details", { class: "history" }, el("summary", {}, "处理记录（" + d.events.length + "）"),
      el("ol", {}, d.events.map((e) => el("li", {}, time(e.created_at) + " · " + e.actor + " · " + e.action + (e.detail && e.detail.note ? "：" + e.detail.note : "")))));
    const statusZh = { submitted: "已提交", accepted: "已受理", in_review: "审核中", done: "已办结", returned: "已退回" };
    const apps = (d.applications || []).length ? el("section", { class: "attachments" }, el("h3", {}, "申请（边聊边办）"),
      el("ul", {}, d.applications.map((a) => el("li", {}, el("button", { type: "button", class: "link", onclick: () => showApp(a.tracking_no) }, a.tracking_no),
        " · " + a.target_name + " · " + (statusZh[a.status] || a.status) + " · " + Object.keys(a.values || {}).length + " 项已填")))) : null;
    const pr = d.prereview;
    const prereview = pr ? el("section", { class: "attachments" }, el("h3", {}, "材料预审：" + ({ pass: "通过", fix: "需补正", fail: "不通过" }[pr.verdict] || pr.verdict)),
      el("ul", {}, pr.materials.concat(pr.unmatched || []).map((m) => el("li", {}, m.material + " · " + ({ not_uploaded: "未上传（非必需）", pass: "通过", fix: "需补正", fail: "不通过" }[m.verdict]) +
        (m.findings.length ? "：" + m.findings.map((f) => f.reason).join("；") : (m.note ? "（" + m.note + "）" : "")))))) : null;
    const attachments = d.attachments.length ? el("section", { class: "attachments" }, el("h3", {}, "材料与预审"), el("ul", {}, d.attachments.map((a) => el("li", {}, (a.name || a.sha256 || "材料") + (a.verdict ? " · " + a.verdict : ""))))) : null;
    const children = [
      el("header", { class: "detail-head" },
        el("h2", {}, "工单 #" + t.id + " ", el("span", { class: "tag" }, KIND[t.kind]), el("span", { class: "tag s-" + t.status }, STATUS[t.status])),
        el("p", { class: "muted" }, "原因：" + (REASON[t.reason] || t.reason) + " · 创建于 " + time(t.created_at) + (t.assignee_name ? " · 处理人 " + t.assignee_name : "") + (t.resolution_note ? " · 办结说明：" + t.resolution_note : "")),
        el("div", { class: "actions" }, actions)),
      summaryCard(t), apps, prereview, attachments, ratings, transcript, history,
    ];
    // A live update must not wipe what the agent is typing.
    const old = $("reply"), draft = old ? old.value : "", focused = old && document.activeElement === old;
    if (mine) children.push(composer(t));
    $("detail").replaceChildren(...children.filter(Boolean));
    transcript.scrollTop = transcript.scrollHeight;
    const box = $("reply");
    if (box) { box.value = draft; if (focused) box.focus(); }
  }

  let canned = [];
  function composer(t) {
    const box = el("textarea", { id: "reply", rows: "3", maxlength: "2000", placeholder: "输入回复，Ctrl+Enter 发送", "aria-label": "回复内容" });
    const send = async () => {
      const text = box.value.trim(); if (!text) return;
      try { await api("/agent/tickets/" + t.id + "/messages", { method: "POST", body: JSON.stringify({ text }) }); box.value = ""; }
      catch (e) { toast(e.message, true); }
    };
    box.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); } });
    const pick = el("select", { "aria-label": "常用回复", onchange: (e) => { const c = canned[e.target.value]; if (c) { box.value = c.text; box.focus(); } e.target.value = ""; } },
      el("option", { value: "" }, "常用回复…"), canned.map((c, i) => el("option", { value: String(i) }, c.title)));
    return el("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); send(); } }, pick, box, el("button", { type: "submit", class: "primary", id: "send-reply" }, "发送"));
  }

  async function claim(id) {
    try { const t = await api("/agent/tickets/" + id + "/claim", { method: "POST" }); tickets.set(id, t); view = "mine";
      document.querySelectorAll(".tabs button").forEach((x) => x.setAttribute("aria-selected", String(x.dataset.view === "mine")));
      await open(id); toast("已接单"); }
    catch (e) { toast(e.message, true); open(id); }
  }
  async function simple(id, action) {
    try { const t = await api("/agent/tickets/" + id + "/" + action, { method: "POST" }); tickets.set(id, t); open(id); } catch (e) { toast(e.message, true); }
  }
  async function resolve(id) {
    const note = prompt("办结说明（将记录在工单中）：", "已答复市民诉求");
    if (note === null) return;
    try { const t = await api("/agent/tickets/" + id + "/resolve", { method: "POST", body: JSON.stringify({ note }) }); tickets.delete(id); detail.ticket = t; renderDetail(); renderList(); toast("已办结"); }
    catch (e) { toast(e.message, true); }
  }
  async function reopen(id) {
    const note = prompt("重新打开的原因：", ""); if (!note) return;
    try { const t = await api("/agent/tickets/" + id + "/reopen", { method: "POST", body: JSON.stringify({ note }) }); tickets.set(id, t); open(id); } catch (e) { toast(e.message, true); }
  }
  async function toKnowledge(t) {
    const lastAgent = [...detail.transcript].reverse().find((m) => m.role === "agent");
    const question = prompt("问题（提交给知识编辑）：", (t.summary && t.summary.wants && t.summary.wants[0]) || ""); if (!question) return;
    const answer = prompt("答案：", lastAgent ? lastAgent.text : ""); if (!answer) return;
    try { const r = await api("/agent/tickets/" + t.id + "/knowledge", { method: "POST", body: JSON.stringify({ question, answer }) }); toast("已转为知识草稿 #" + r.draft_id + "，等待编辑审核"); }
    catch (e) { toast(e.message, true); }
  }

  async function showStats() {
    $("list").replaceChildren();
    let s; try { s = await api("/agent/stats"); } catch (e) { toast(e.message, true); return; }
    const max = Math.max(1, ...s.ratings.by_level);
    current = null; currentApp = null;
    $("detail").replaceChildren(el("section", { class: "stats" },
      el("h2", {}, "好差评统计"),
      el("p", {}, "共 " + s.ratings.total + " 条评价" + (s.satisfaction != null ? "，满意率 " + (s.satisfaction * 100).toFixed(1) + "%" : "")),
      el("div", { class: "bars", role: "list" }, LEVELS.map((l, i) => el("div", { class: "bar-row", role: "listitem" },
        el("span", { class: "bar-label" }, l), el("span", { class: "meter lvl" + (5 - i), style: "width:" + (s.ratings.by_level[i] / max * 100) + "%" }), el("span", { class: "bar-n" }, String(s.ratings.by_level[i]))))),
      el("p", { class: "muted" }, "等待中 " + s.waiting + " · 处理中 " + s.in_progress + " · 待转交建言 " + s.suggestions_open)));
  }

  // ---------- live ----------
  async function live() {
    if (stream) stream.abort();
    stream = new AbortController();
    const status = $("live");
    let backoff = 1000;
    for (;;) {
      try {
        const res = await fetch(API + "/agent/events", { headers: { Authorization: "Bearer " + token() }, signal: stream.signal });
        if (res.status === 401) { logout(false); return; }
        if (!res.ok) throw new Error("HTTP " + res.status);
        status.textContent = "● 实时连接"; status.className = "live on"; backoff = 1000;
        await readSse(res, onEvent);
      } catch (e) { if (stream.signal.aborted) return; }
      status.textContent = "○ 连接中断，正在重连…"; status.className = "live off";
      await new Promise((r) => setTimeout(r, backoff)); backoff = Math.min(backoff * 2, 15000);
    }
  }

  function onEvent(name, d) {
    if (name === "ticket") {
      const t = d.ticket, fresh = !tickets.has(t.id) && t.status === "pending";
      if (t.status === "resolved") tickets.delete(t.id); else tickets.set(t.id, t);
      if (fresh && t.kind !== "suggestion") document.title = "（新工单）12345 坐席工作台";
      if (current === t.id && detail) { detail.ticket = t; renderDetail(); }
      renderList();
    } else if (name === "message") {
      if (current === d.ticket_id && detail && !detail.transcript.some((m) => m.id === d.message.id)) {
        detail.transcript.push(d.message);
        const tr = $("transcript"); if (tr) { tr.append(bubble(d.message)); tr.scrollTop = tr.scrollHeight; }
      }
    } else if (name === "resync") {
      start();
    }
  }
  window.addEventListener("focus", () => { document.title = "12345 坐席工作台 · 示例市政务服务"; });

  // ---------- start ----------
  async function start() {
    try { me = await api("/auth/me"); } catch { logout(false); return; }
    if (me.role === "editor") { toast("知识编辑账号请使用编辑后台", true); }
    $("me-name").textContent = me.display_name; $("me-role").textContent = { agent: "坐席", editor: "编辑", admin: "管理员" }[me.role];
    $("login").hidden = true; $("console").hidden = false;
    try { canned = await api("/agent/canned-replies"); } catch { canned = []; }
    tickets.clear();
    try { for (const t of await api("/agent/tickets?view=open")) tickets.set(t.id, t); for (const t of await api("/agent/tickets?view=suggestions")) tickets.set(t.id, t); }
    catch (e) { toast(e.message, true); }
    renderList();
    loadApps();
    live();
  }

  if (token()) start(); else { $("login").hidden = false; $("username").focus(); }
})();
