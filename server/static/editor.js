// 办事指南知识编辑台 — the knowledge editors' console: search guides, edit the common elements in
// a form (or any element in the JSON), preview answers from the draft, save drafts (a stale
// version is refused with a conflict), publish, read the history and diffs, roll back.
// An edit always starts from the version the server names (`editing_version`: after a rollback,
// the version rolled back to) and publishes that explicit version, so a rolled-back version is
// never republished by pressing 发布 on a form that still shows it.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const { el } = window.banshiDom;
  let current = null; // { kind, code, base, guide, live_version, latest_version }
  const time = (s) => s ? new Date(s).toLocaleString("zh-CN", { hour12: false }) : "";

  const { api, toast, logout, token } = window.banshiStaff({
    storageKey: "banshi.editor",
    refuse: (user) => user.role === "agent" ? "当前账号（坐席）无权使用知识编辑台" : null,
    onLogin: (user) => start(user),
  });

  async function start(user) {
    $("login").hidden = true; $("console").hidden = false;
    $("me-name").textContent = user.display_name; $("me-role").textContent = user.role === "admin" ? "管理员" : "知识编辑";
    await search();
  }

  // ---------- list ----------
  let searchTimer = null;
  $("q").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, 250); });
  async function search() {
    const rows = await api("/editor/guides?q=" + encodeURIComponent($("q").value.trim()));
    $("list").replaceChildren(...(rows.length ? rows.map((g) => el("li", {}, el("button", { class: "item" + (current && current.code === g.code ? " active" : ""), type: "button", "data-code": g.code, onclick: () => open(g.code) },
      el("div", { class: "item-top" }, el("strong", {}, g.name)),
      el("div", { class: "item-meta" }, g.code + " · 线上第 " + (g.live_version || "-") + " 版" + (g.latest_version !== g.live_version ? " · 最新第 " + g.latest_version + " 版不在线上" : "") + (g.source === "sample" ? " · 示例" : ""))))) : [el("li", { class: "none" }, "没有匹配的事项")]));
  }

  // ---------- editor ----------
  const num = (v) => (v === "" || v === null || v === undefined ? null : Number(v));
  function field(label, id, value, attrs = {}) {
    return el("label", { class: "field", for: id }, el("span", {}, label), el("input", Object.assign({ id, value: value ?? "" }, attrs)));
  }
  // A time limit keeps the unit the guide states (60日 is not 60个工作日): number and unit.
  const UNITS = [["working_days", "个工作日"], ["calendar_days", "日（自然日）"], ["months", "个月"]];
  function limitField(label, k, t) {
    const unit = (t && t.unit) || "working_days";
    return el("div", { class: "field" }, el("label", { for: "f-" + k }, label),
      el("div", { class: "row limit" },
        el("input", { id: "f-" + k, type: "number", min: "0", value: t ? t.days : "" }),
        el("select", { id: "f-" + k + "-unit", "aria-label": label + "的单位" }, UNITS.map(([v, zh]) => el("option", { value: v, selected: v === unit }, zh)))));
  }

  // `kind`: "guides" or "bundles" (一件事), same life cycle.
  const path = () => "/editor/" + current.kind + "/" + encodeURIComponent(current.code);
  const draftBody = (doc) => JSON.stringify(current.kind === "guides" ? { base_version: current.base, guide: doc } : { base_version: current.base, bundle: doc });

  async function open(code, kind = "guides") {
    const g = await api("/editor/" + kind + "/" + encodeURIComponent(code));
    // Edit what the server says an edit starts from — never a rolled-back latest version.
    current = { kind, code, base: g.editing_version, live_version: g.live_version, latest_version: g.latest_version, guide: g.editing };
    document.querySelectorAll(".item").forEach((b) => b.classList.toggle("active", b.dataset.code === code));
    render();
  }

  // The guide as the form and the JSON say it (the form wins for the fields it shows). An empty
  // field is an absent element, as the server writes it, so an unchanged form compares equal.
  function collect() {
    let g;
    try { g = JSON.parse($("json").value); } catch (e) { throw new Error("JSON 格式有误：" + e.message); }
    g.name = $("f-name").value.trim();
    if (current.kind === "bundles") return g;
    g.department = $("f-dept").value.trim();
    (g.fees || []).forEach((f, i) => {
      f.name = $("fee-name-" + i).value.trim();
      f.amount_yuan = num($("fee-amount-" + i).value);
      if (f.amount_yuan === null) delete f.amount_yuan;
    });
    for (const k of ["legal_time_limit", "promised_time_limit"]) {
      const v = num($("f-" + k).value);
      if (v === null) delete g[k]; else g[k] = Object.assign({}, g[k] || {}, { days: v, unit: $("f-" + k + "-unit").value });
    }
    const phone = $("f-phone").value.trim();
    if (phone) g.consult_phone = phone; else delete g.consult_phone;
    return g;
  }

  function render() {
    const g = current.guide;
    if (current.kind === "bundles") return renderBundle(g);
    const fees = (g.fees || []).map((f, i) => el("div", { class: "row" }, field("收费项目", "fee-name-" + i, f.name), field("金额（元）", "fee-amount-" + i, f.amount_yuan, { type: "number", step: "0.01", min: "0" })));
    const out = el("section", { class: "preview", "aria-live": "polite" });
    const msg = el("p", { class: "error", role: "alert" });
    const act = (label, fn, primary) => el("button", { type: "button", class: primary ? "primary" : "", onclick: async () => { msg.textContent = ""; try { await fn(); } catch (e) { msg.textContent = e.message; } } }, label);
    $("detail").replaceChildren(
      el("div", { class: "detail-head" }, el("h2", {}, g.name), el("p", { class: "muted" }, g.code + " · " + baseLine())),
      el("div", { class: "grid" },
        field("事项名称", "f-name", g.name), field("实施部门", "f-dept", g.department),
        limitField("法定办结时限", "legal_time_limit", g.legal_time_limit),
        limitField("承诺办结时限", "promised_time_limit", g.promised_time_limit),
        field("咨询电话", "f-phone", g.consult_phone)),
      fees.length ? el("fieldset", {}, el("legend", {}, "收费标准"), fees) : el("p", { class: "muted" }, "本事项不收费（如需收费，请在 JSON 中添加 fees）"),
      ...(g.eligibility ? [el("fieldset", {}, el("legend", {}, "免申即享规则（在 JSON 的 eligibility 中编辑）"),
        el("p", {}, (g.eligibility.grant === "auto" ? "免申即享：" : "一键确认：") + g.eligibility.summary),
        el("ul", {}, g.eligibility.conditions.map((c) => el("li", {}, c.label + "（依据 " + c.cites + "）" + (c.ask ? "；无记录时询问：" + c.ask.question : "")))))] : []),
      el("details", { class: "json" }, el("summary", {}, "全部要素（JSON，可编辑材料、流程、表单等任意要素；导入导出）"),
        el("textarea", { id: "json", rows: "18", spellcheck: "false" }, JSON.stringify(g, null, 2)),
        el("div", { class: "actions" },
          act("导出 JSON", async () => { const a = el("a", { href: URL.createObjectURL(new Blob([JSON.stringify(collect(), null, 2)], { type: "application/json" })), download: g.code + ".json" }); a.click(); }),
          act("从 JSON 重新载入表单", async () => { current.guide = JSON.parse($("json").value); render(); }))),
      el("div", { class: "actions" },
        act("预览回答", async () => {
          const p = await api("/editor/preview", { method: "POST", body: JSON.stringify({ guide: collect() }) });
          out.replaceChildren(...[el("h3", {}, "预览：市民提问时的回答（草稿）"), p.problems.length ? el("p", { class: "error" }, "需修改：" + p.problems.join("；")) : null,
            ...p.answers.map((a) => el("div", { class: "qa" }, el("p", {}, el("strong", {}, "问："), a.question), el("p", {}, el("strong", {}, "答："), a.answer)))].filter(Boolean));
        }),
        act("保存草稿", async () => {
          await saveDraft();
        }),
        act("发布", publish, true)),
      msg, out, el("section", { id: "history" }));
    history();
  }

  async function saveDraft() {
    const s = await api(path() + "/drafts", { method: "POST", body: draftBody(collect()) });
    toast("已保存为第 " + s.version + " 版草稿"); await open(current.code, current.kind); await relist();
  }

  // “编辑基于第 N 版 · 线上第 M 版”, and when the newest saved version is not what an edit
  // starts from (it was rolled back or replaced), say so: it stays in the history only.
  function baseLine() {
    const kind = current.kind === "bundles" ? "一件事 · " : "";
    const stale = current.latest_version > current.base ? " · 第 " + current.latest_version + " 版已撤下，仅保留在版本历史中" : "";
    return kind + "编辑基于第 " + current.base + " 版 · 线上第 " + (current.live_version || "-") + " 版" + stale;
  }

  // Publish what is on screen, as an explicit version: unsaved edits become a draft first
  // (saved on the version shown, so a stale form is a conflict, not an overwrite); the version
  // the form shows is published only when it is not already live — checked with the server, as
  // someone may have rolled it back since. A refusal (409) is shown, nothing changes.
  async function publish() {
    let version = current.base;
    if (JSON.stringify(collect()) !== JSON.stringify(current.guide)) version = (await api(path() + "/drafts", { method: "POST", body: draftBody(collect()) })).version;
    else if (version === current.live_version) {
      const now = await api(path());
      if (now.live_version !== version) throw new Error("线上版本已变为第 " + (now.live_version || "-") + " 版（可能刚被回滚），请重新打开该指南后再修改");
      toast("内容与线上第 " + version + " 版相同，无需发布"); return;
    }
    await api(path() + "/publish", { method: "POST", body: JSON.stringify({ version }) });
    toast("第 " + version + " 版已发布，数秒内生效"); await open(current.code, current.kind); await relist();
  }

  const relist = () => (current.kind === "bundles" ? bundles() : search());

  function renderBundle(b) {
    const msg = el("p", { class: "error", role: "alert" });
    const act = (label, fn, primary) => el("button", { type: "button", class: primary ? "primary" : "", onclick: async () => { msg.textContent = ""; try { await fn(); } catch (e) { msg.textContent = e.message; } } }, label);
    $("detail").replaceChildren(
      el("div", { class: "detail-head" }, el("h2", {}, b.name), el("p", { class: "muted" }, b.code + " · " + baseLine())),
      el("div", { class: "grid" }, field("名称", "f-name", b.name)),
      el("p", { class: "muted" }, "包含事项、字段合并（field_map）、办结后产生的字段（produced）和材料去重（materials.covers）在下方 JSON 中编辑；发布前会逐项核对所引用的事项、字段和材料。"),
      el("textarea", { id: "json", rows: "22", spellcheck: "false", class: "json-full" }, JSON.stringify(b, null, 2)),
      el("div", { class: "actions" }, act("保存草稿", saveDraft), act("发布", publish, true)),
      msg, el("section", { id: "history" }));
    history();
  }

  async function bundles() {
    const rows = await api("/editor/bundles");
    $("list").replaceChildren(...rows.map((g) => el("li", {}, el("button", { class: "item" + (current && current.code === g.code ? " active" : ""), type: "button", "data-code": g.code, onclick: () => open(g.code, "bundles") },
      el("div", { class: "item-top" }, el("strong", {}, g.name)), el("div", { class: "item-meta" }, g.code + " · 线上第 " + (g.live_version || "-") + " 版")))));
  }

  async function history() {
    const vs = await api(path() + "/versions");
    const diffBox = el("div", { class: "diff" });
    $("history").replaceChildren(el("h3", {}, "版本历史"), el("table", { class: "versions" },
      el("tr", {}, el("th", {}, "版本"), el("th", {}, "状态"), el("th", {}, "作者"), el("th", {}, "时间"), el("th", {}, "")),
      vs.map((v) => el("tr", { class: v.live ? "live" : "" }, el("td", {}, "第 " + v.version + " 版"), el("td", {}, v.live ? "线上" : v.status === "published" ? "曾发布" : "草稿"),
        el("td", {}, v.author.replace(/^user:/, "")), el("td", {}, time(v.created_at)),
        el("td", {},
          v.version > 1 ? el("button", { type: "button", class: "link", onclick: async () => {
            const d = await api(path() + "/diff?from=" + (v.version - 1) + "&to=" + v.version);
            diffBox.replaceChildren(el("h4", {}, "第 " + (v.version - 1) + " 版 → 第 " + v.version + " 版"), el("pre", {}, d.map((l) => el("span", { class: "d" + (l.op === "+" ? " add" : l.op === "-" ? " del" : "") }, l.op + " " + l.text + "\n"))));
          } }, "对比上一版") : null,
          !v.live && v.status === "published" ? el("button", { type: "button", class: "link", onclick: async () => {
            if (!confirm("回滚到第 " + v.version + " 版？线上回答将立即恢复为该版本。")) return;
            await api(path() + "/rollback", { method: "POST", body: JSON.stringify({ version: v.version }) });
            toast("已回滚到第 " + v.version + " 版"); await open(current.code, current.kind); await relist();
          } }, "回滚到此版") : null)))), diffBox);
  }

  // ---------- tabs: guides, the gap dashboard, curated answers ----------
  document.querySelectorAll("[data-tab]").forEach((b) => b.addEventListener("click", () => {
    document.querySelectorAll("[data-tab]").forEach((x) => x.setAttribute("aria-selected", String(x === b)));
    $("q").parentElement.hidden = b.dataset.tab !== "guides";
    if (b.dataset.tab === "guides") search();
    if (b.dataset.tab === "bundles") bundles();
    if (b.dataset.tab === "gaps") gaps();
    if (b.dataset.tab === "curated") curated();
    if (b.dataset.tab === "offers") offers();
  }));

  // Each live rule's reach over every citizen account today, beside what became of its offers.
  async function offers() {
    const r = await api("/editor/offers/report");
    $("list").replaceChildren(el("li", { class: "none" }, r.rules.length + " 条规则 · " + r.citizens + " 位市民（" + r.citizens_with_offers_off + " 位关闭推送）"));
    const th = (...xs) => el("tr", {}, xs.map((x) => el("th", {}, x)));
    $("detail").replaceChildren(el("h2", {}, "免申即享：规则覆盖与推送结果（" + r.evaluated_on + "）"),
      el("p", { class: "muted" }, "规则写在各办事指南的 eligibility 要素中，随指南保存草稿、发布、回滚并留痕。“符合”按档案和电子证照全部条件成立；“可能符合”需市民补充回答。"),
      el("table", { class: "versions" }, th("事项", "方式", "符合", "可能符合", "待确认", "已确认", "已谢绝", "已为其办理"),
        r.rules.map((x) => el("tr", {}, el("td", {}, el("button", { type: "button", class: "link", onclick: () => { document.querySelector('[data-tab="guides"]').click(); open(x.code, x.code.startsWith("BUNDLE-") ? "bundles" : "guides"); } }, x.name)),
          el("td", {}, x.grant === "auto" ? "免申即享" : "一键确认"), [x.eligible, x.possible, x.open, x.accepted, x.declined, x.granted].map((n) => el("td", {}, String(n)))))));
  }

  const KIND = { declined: "无法回答", clarified: "需澄清", handoff: "转人工", out_of_scope: "超出范围", low_confidence: "低置信", bad_rating: "差评" };
  async function gaps() {
    const groups = await api("/editor/gaps?days=30");
    $("list").replaceChildren(el("li", { class: "none" }, "近 30 天共 " + groups.reduce((n, g) => n + g.count, 0) + " 次未解决，" + groups.length + " 个缺口"));
    $("detail").replaceChildren(el("h2", {}, "服务缺口（近 30 天）"), el("p", { class: "muted" }, "来自真实咨询：低置信回答、无法回答、转人工和差评，按事项或话题归组。处理后请标记已解决，留痕可查。"),
      ...groups.map((g) => el("section", { class: "gap" + (g.closed ? " closed" : ""), "data-key": g.key },
        el("div", { class: "gap-head" }, el("strong", {}, g.title), el("span", { class: "count" }, g.count + " 次"),
          el("span", { class: "muted" }, "近7天 " + g.last_7_days + " · 前7天 " + g.previous_7_days + (g.last_7_days > g.previous_7_days ? " ↑" : g.last_7_days < g.previous_7_days ? " ↓" : "")),
          g.closed ? el("span", { class: "tag s-resolved" }, "已解决：" + g.closed.note) : null),
        el("div", { class: "muted" }, Object.entries(g.by_kind).map(([k, n]) => (KIND[k] || k) + " " + n).join(" · ")),
        el("ul", {}, g.samples.map((q) => el("li", {}, q))),
        el("div", { class: "actions" },
          g.item_code ? el("button", { type: "button", onclick: () => { document.querySelector('[data-tab="guides"]').click(); open(g.item_code); } }, "修改办事指南") : null,
          el("button", { type: "button", onclick: async () => {
            const answer = prompt("为“" + g.top_question + "”撰写标准答复：");
            if (!answer) return;
            try { await api("/editor/curated", { method: "POST", body: JSON.stringify({ question: g.top_question, answer, item_code: g.item_code, from_gap: g.title }) }); toast("标准答复已生效"); }
            catch (e) { toast(e.message, true); }
          } }, "写标准答复"),
          g.closed ? null : el("button", { type: "button", onclick: async () => {
            const note = prompt("处理说明（如：已修改指南收费标准 / 已发布标准答复）：");
            if (!note) return;
            try { await api("/editor/gaps/close", { method: "POST", body: JSON.stringify({ key: g.key, note }) }); toast("已标记解决"); gaps(); }
            catch (e) { toast(e.message, true); }
          } }, "标记已解决")))));
  }

  async function curated() {
    const [list, drafts] = await Promise.all([api("/editor/curated"), api("/editor/knowledge-drafts")]);
    $("list").replaceChildren(el("li", { class: "none" }, list.filter((c) => c.active).length + " 条生效中，" + drafts.length + " 条坐席草稿待审"));
    $("detail").replaceChildren(el("h2", {}, "标准答复"),
      el("h3", {}, "坐席转知识（待审）"), drafts.length ? null : el("p", { class: "muted" }, "暂无待审草稿"),
      ...drafts.map((d) => el("section", { class: "gap" }, el("strong", {}, d.question), el("p", {}, d.answer), el("p", { class: "muted" }, d.author + (d.ticket_id ? " · 工单 " + d.ticket_id : "")),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "primary", onclick: async () => { await api("/editor/curated", { method: "POST", body: JSON.stringify({ question: d.question, answer: d.answer, item_code: d.item_code, draft_id: d.id }) }); toast("已采纳"); curated(); } }, "采纳为标准答复"),
          el("button", { type: "button", onclick: async () => { await api("/editor/knowledge-drafts/" + d.id + "/reject", { method: "POST" }); curated(); } }, "不采纳")))),
      el("h3", {}, "已有标准答复"),
      ...list.map((c) => el("section", { class: "gap" + (c.active ? "" : " closed") }, el("strong", {}, c.question), el("p", {}, c.answer), el("p", { class: "muted" }, c.source + " · " + c.author.replace(/^user:/, "") + (c.active ? "" : " · 已停用")),
        c.active ? el("div", { class: "actions" }, el("button", { type: "button", onclick: async () => { await api("/editor/curated/" + c.id + "/retire", { method: "POST" }); curated(); } }, "停用")) : null)));
  }

  if (token()) api("/auth/me").then(start).catch(() => logout(false)); else logout(false);
})();
