// 免申即享 / 主动服务 on the chat page: once a citizen is signed in, what the city already did
// for them (已为您办理), what one tap applies for (一键确认), and what they may qualify for once
// they answer a yes/no question (可能符合，需补充信息). Each offer says why (the conditions and
// the guide text they come from). Offers can be declined one by one, or turned off.
window.banshiOffers = function (ctx) {
  "use strict";
  const { el, api, session, scroll } = ctx;
  const chat = document.getElementById("chat");
  const stateZh = { granted: "已为您办理", accepted: "已确认申请", confirm: "一键确认", answer: "可能符合，需补充信息" };
  const checkZh = { held: "符合", failed: "不符合", unknown: "待确认" };

  const path = (p) => "/sessions/" + session().id + "/offers" + p;
  const post = (p, body) => api(path(p), { method: "POST", body: body ? JSON.stringify(body) : undefined });

  function why(o) {
    return el("details", { class: "why" }, el("summary", {}, "为什么推荐给我"),
      el("ul", {}, o.checks.map((c) => el("li", { class: "chk-" + c.state },
        el("span", { class: "badge c-" + c.state }, checkZh[c.state]), " ", c.label, "：", c.evidence,
        c.source_text ? el("div", { class: "muted" }, "依据：办事指南" + c.source + "——" + c.source_text) : null))));
  }

  function offer(o, msg) {
    const act = (label, fn, primary) => el("button", { type: "button", class: primary ? "primary" : "", onclick: async (e) => {
      e.target.disabled = true; msg.textContent = "";
      try { await fn(); } catch (err) { msg.textContent = err.message; e.target.disabled = false; }
    } }, label);
    const head = el("div", { class: "offer-head" }, el("strong", {}, o.name), el("span", { class: "badge o-" + o.state }, stateZh[o.state]));
    const body = [el("p", {}, o.summary), o.band ? el("p", { class: "band" }, "标准：" + o.band) : null];
    if (o.tracking_no) body.push(el("p", {}, "受理编号 ", el("strong", {}, o.tracking_no)));
    if (o.state === "confirm") {
      body.push(el("div", { class: "options" },
        act("一键确认申请", () => accept(o), true),
        act("不需要", async () => { await post("/" + encodeURIComponent(o.code) + "/decline"); await refresh(); })));
    }
    if (o.state === "answer") {
      body.push(el("p", { class: "muted" }, "还需要您确认以下情况（按实际回答，审核时会核实）："));
      o.questions.forEach((q) => body.push(el("div", { class: "question" }, el("p", {}, q.question),
        el("div", { class: "options" }, ["是", "否"].map((a) => act(a, async () => render(await (await post("/answers", { key: q.key, answer: a })).json())))))));
      body.push(el("div", { class: "options" }, act("不需要", async () => { await post("/" + encodeURIComponent(o.code) + "/decline"); await refresh(); })));
    }
    return el("li", { class: "offer" }, head, body, why(o));
  }

  async function accept(o) {
    const res = await post("/" + encodeURIComponent(o.code) + "/accept");
    const r = await res.json();
    if (r.form && ctx.showForm) ctx.showForm(r.form, r.message);
    await refresh();
    if (!r.form) ctx.notice(r.message);
  }

  function render(list) {
    const old = chat.querySelector(".offers-msg");
    if (!list || (!list.offers.length && list.enabled)) { if (old) old.remove(); return; }
    const msg = el("p", { class: "ferror", role: "alert" });
    const toggle = el("button", { type: "button", class: "link", onclick: async () => {
      try { render(await (await post("/settings", { enabled: !list.enabled })).json()); } catch (err) { msg.textContent = err.message; }
    } }, list.enabled ? "不再主动推送" : "重新开启主动推送");
    const card = el("div", { class: "card offers" },
      el("div", { class: "card-head" }, el("h3", {}, "为您主动推送的服务"),
        el("div", { class: "dept" }, list.enabled ? "根据您的档案和电子证照，以下服务您可能符合条件（免申即享）" : "您已关闭主动推送")),
      list.enabled ? el("ul", { class: "offer-list" }, list.offers.map((o) => offer(o, msg))) : null,
      msg, el("p", { class: "muted" }, toggle));
    const node = el("section", { class: "msg assistant offers-msg" }, el("div", { class: "bubble" }, card));
    if (old) old.replaceWith(node); else { chat.append(node); scroll(); }
  }

  async function refresh() {
    if (!session()) return;
    try { render(await (await api(path(""))).json()); } catch (e) { if (e.status === 401 || e.status === 403) render(null); }
  }

  document.addEventListener("banshi:signed-in", refresh);
  document.addEventListener("banshi:signed-out", () => render(null));
  return { refresh };
};
