// 亲友代办 on the chat page, once signed in: authorise a relative for chosen items (with an
// expiry), see and revoke what was given, see what relatives submitted; and, for a relative,
// start or stop acting for the person who authorised them. The server checks every grant again
// on each submission; this page only shows what it says.
window.banshiProxies = function (ctx) {
  "use strict";
  const { el, api, session, openDrawer, closeDrawer } = ctx;
  const banner = document.getElementById("acting");
  const statusZh = { active: "有效", expired: "已到期", revoked: "已撤销" };
  const path = (p) => "/sessions/" + session().id + p;
  const post = (p, body) => api(path(p), { method: "POST", body: JSON.stringify(body || {}) });

  function showActing(a) {
    banner.hidden = !a;
    if (!a) return;
    banner.replaceChildren(el("span", {}, "正在代 " + a.principal_name + " 办理"),
      el("button", { type: "button", onclick: async () => { await post("/acting-for/stop"); showActing(null); } }, "结束代办"));
  }

  function grantRow(g, mine, msg) {
    const act = (label, fn) => el("button", { type: "button", onclick: async () => { msg.textContent = ""; try { await fn(); } catch (e) { msg.textContent = e.message; } } }, label);
    const who = mine ? "授权给 " + g.proxy_name : g.principal_name + " 授权给您";
    return el("li", { class: "grant" },
      el("div", {}, el("strong", {}, who), " ", el("span", { class: "badge" }, statusZh[g.status] || g.status)),
      el("div", { class: "muted" }, "事项：" + g.scope_names.join("、") + "；有效期至 " + g.expires_at.slice(0, 10)),
      g.status !== "active" ? null : mine
        ? act("撤销授权", async () => { await post("/proxies/" + g.id + "/revoke"); await open(); })
        : act("代 TA 办理", async () => { showActing(await (await post("/acting-for", { grant_id: g.id })).json()); closeDrawer(); }));
  }

  function newGrant(msg) {
    const user = el("input", { id: "px-user", autocomplete: "off", required: true });
    const name = el("input", { id: "px-name", autocomplete: "off", required: true });
    const days = el("input", { id: "px-days", type: "number", min: "1", max: "365", value: "30", required: true });
    const q = el("input", { id: "px-item", autocomplete: "off", placeholder: "输入事项名称，如：高龄津贴" });
    const picks = el("div", { class: "picks" });
    q.addEventListener("change", async () => {
      const page = await (await api("/items?limit=5&q=" + encodeURIComponent(q.value.trim()))).json();
      picks.replaceChildren(...page.items.map((i) => el("label", { class: "check" }, el("input", { type: "checkbox", value: i.code }), i.name)));
    });
    return el("form", { class: "signin", onsubmit: async (e) => {
      e.preventDefault(); msg.textContent = "";
      const scope = [...picks.querySelectorAll("input:checked")].map((c) => c.value);
      try {
        await post("/proxies", { proxy_username: user.value.trim(), proxy_name: name.value.trim(), scope, days: Number(days.value) });
        await open();
      } catch (err) { msg.textContent = err.message; }
    } },
      el("h3", {}, "授权亲友代办"),
      el("label", { for: "px-user" }, "代办人账号"), user,
      el("label", { for: "px-name" }, "代办人姓名"), name,
      el("label", { for: "px-item" }, "可代办的事项"), q, picks,
      el("label", { for: "px-days" }, "有效天数（1–365）"), days,
      el("button", { type: "submit", class: "primary" }, "确认授权"));
  }

  async function open() {
    const g = await (await api(path("/proxies"))).json();
    showActing(g.acting_for);
    const msg = el("p", { class: "ferror", role: "alert" });
    const list = (xs, mine) => xs.length ? el("ul", { class: "grants" }, xs.map((x) => grantRow(x, mine, msg))) : el("p", { class: "muted" }, "暂无");
    openDrawer("亲友代办",
      el("p", { class: "muted" }, "授权亲友在有效期内代您办理指定事项；代办记录您随时可查，可随时撤销。代办人不能再委托他人。"),
      el("h3", {}, "我给出的授权"), list(g.given, true),
      el("h3", {}, "别人给我的授权"), list(g.received, false),
      el("h3", {}, "亲友为我代办的事项"),
      g.actions.length ? el("ul", {}, g.actions.map((a) => el("li", {}, a.target_name + "（" + a.tracking_no + "）由 " + a.proxy_name + " 代办"))) : el("p", { class: "muted" }, "暂无"),
      g.acting_for ? el("p", { class: "muted" }, "您正在代他人办理，不能在此期间授权他人。") : newGrant(msg), msg);
  }

  const button = document.getElementById("proxies");
  button.addEventListener("click", () => open().catch((e) => ctx.notice(e.message)));
  document.addEventListener("banshi:signed-in", async () => {
    button.hidden = false;
    try { showActing((await (await api(path("/proxies"))).json()).acting_for); } catch { /* signed out meanwhile */ }
  });
  document.addEventListener("banshi:signed-out", () => { button.hidden = true; showActing(null); });
};
