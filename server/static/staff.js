// Shared by the staff consoles (坐席工作台, 知识编辑台): the log-in form, the bearer token
// (sessionStorage: one log-in per tab), `api()` that sends it and turns error bodies into
// exceptions carrying the HTTP status, log-out, and toasts.
//
// `banshiStaff({ storageKey, refuse, onLogin, onLogout })`: `refuse(user)` returns why this
// console will not take the account (or nothing); `onLogin(user)` opens the console after a
// log-in; `onLogout()` stops whatever the console runs. A 401 from any call logs out.
"use strict";
window.banshiStaff = ({ storageKey, refuse = () => null, onLogin, onLogout = () => {} }) => {
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  const { el } = window.banshiDom;
  let token = sessionStorage.getItem(storageKey);

  async function api(path, opts = {}) {
    const headers = Object.assign({ "Content-Type": "application/json" }, opts.headers || {});
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(API + path, Object.assign({}, opts, { headers }));
    if (res.status === 401) { logout(false); throw new Error("登录已失效，请重新登录"); }
    if (!res.ok) {
      let b = {}; try { b = await res.json(); } catch {}
      throw Object.assign(new Error((b.error && b.error.message) || "请求失败（" + res.status + "）"), { status: res.status });
    }
    return res.status === 204 ? null : res.json();
  }

  function toast(msg, bad) {
    const t = el("div", { class: "toast" + (bad ? " bad" : ""), role: "status" }, msg);
    document.body.append(t); setTimeout(() => t.remove(), 4000);
  }

  // `tell`: end the session on the server too (not when it already said 401).
  function logout(tell = true) {
    if (tell && token) fetch(API + "/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + token } }).catch(() => {});
    token = null; sessionStorage.removeItem(storageKey);
    onLogout();
    $("console").hidden = true; $("login").hidden = false; $("username").focus();
  }

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = $("login-error"); err.hidden = true;
    try {
      const r = await fetch(API + "/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: $("username").value.trim(), password: $("password").value }) });
      const b = await r.json();
      if (!r.ok) throw new Error(r.status === 401 ? "用户名或密码错误" : (b.error && b.error.message) || "登录失败");
      const refused = refuse(b.user);
      if (refused) throw new Error(refused);
      token = b.token; sessionStorage.setItem(storageKey, token);
      $("password").value = "";
      onLogin(b.user);
    } catch (ex) { err.textContent = ex.message; err.hidden = false; }
  });
  $("logout").addEventListener("click", () => logout(true));

  return { api, toast, logout, token: () => token };
};
