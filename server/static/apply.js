// 边聊边办 on the chat page: the 一件事 card, the form filled in the chat (values with their
// sources, errors next to fields, 免提交 materials), quick replies, submitting with a tracking
// number, and citizen sign-in (统一身份认证, so the profile and e-licences pre-fill forms).
// app.js calls window.banshiApply(ctx) with its helpers; nothing here talks to the page otherwise.
window.banshiApply = (ctx) => {
  "use strict";
  const { el, api, submit, scroll, openDrawer, closeDrawer, session } = ctx;
  let activeForm = null;

  function bundleCard(c) {
    const items = el("ol", { class: "bundle-items" }, c.items.map(([name, note, optional]) =>
      el("li", {}, name, optional ? el("span", { class: "badge" }, "可选") : null, note ? el("div", { class: "muted" }, note) : null)));
    const mats = el("ul", { class: "mats" }, c.materials.map((m) => materialRow(m)));
    return el("div", { class: "card bundle" },
      el("div", { class: "card-head" },
        el("h3", {}, c.name, el("span", { class: "badge kind" }, "一件事"), c.sample ? el("span", { class: "badge sample", title: "示例市为虚构城市，数据仅供演示" }, "示例数据") : null),
        el("div", { class: "dept" }, c.department)),
      c.summary ? el("p", { class: "muted" }, c.summary) : null,
      el("div", { class: "savings" },
        el("span", {}, el("b", {}, c.items.length), " 个事项"),
        el("span", {}, "表单字段 ", el("s", {}, c.separate_fields), " → ", el("b", {}, c.asked_fields)),
        el("span", {}, "材料 ", el("s", {}, c.separate_materials), " → ", el("b", {}, c.materials.length)),
        c.visits != null ? el("span", {}, "最多跑 ", el("b", {}, c.visits), " 次") : null),
      el("h4", {}, "包含事项"), items,
      el("h4", {}, "材料清单（已去重）"), mats,
      c.promised_time_limit ? el("p", { class: "muted" }, "承诺时限：" + c.promised_time_limit) : null);
  }

  function materialRow(m) {
    return el("li", { class: m.exempt ? "exempt" : "" },
      el("span", { class: "mat-name" }, m.name),
      !m.required ? el("span", { class: "badge" }, "非必要") : null,
      m.tolerance ? el("span", { class: "badge", title: "可先办理，承诺后补交" }, "可容缺") : null,
      m.exempt ? el("span", { class: "badge ok", title: m.exempt }, "免提交") : null,
      el("div", { class: "muted" }, (m.exempt ? m.exempt + " · " : "") + "用于：" + m.needed_by.join("、")));
  }

  function input(f) {
    const id = "f-" + f.key + "-" + Math.random().toString(36).slice(2, 7);
    let control;
    if (f.kind === "enum" || f.kind === "yes_no") {
      const opts = f.kind === "yes_no" ? ["是", "否"] : f.options;
      control = el("select", { id }, el("option", { value: "" }, "请选择"), opts.map((o) => el("option", { value: o, selected: f.value === o }, o)));
    } else {
      const type = f.kind === "date" ? "date" : f.kind === "phone" ? "tel" : f.kind === "number" ? "text" : "text";
      const mode = f.kind === "phone" || f.kind === "number" ? "numeric" : null;
      control = el("input", { id, type, value: f.value || "", inputmode: mode, autocomplete: "off", "aria-invalid": f.error ? "true" : null });
    }
    return { id, control };
  }

  // The form as the page shows it; `view` is the server's FormView.
  function formCard(view) {
    if (activeForm && activeForm.isConnected) retire(activeForm);
    const node = el("div", { class: "card formcard", "data-target": view.target.code });
    render(node, view);
    activeForm = node;
    return node;
  }

  function retire(node) {
    node.classList.add("stale");
    node.querySelectorAll("input, select, button").forEach((c) => { c.disabled = true; });
  }

  function render(node, view) {
    const filled = view.fields.filter((f) => !f.produced_by && f.value).length;
    const asked = view.fields.filter((f) => !f.produced_by).length;
    const rows = view.fields.map((f) => {
      if (f.produced_by) {
        return el("div", { class: "field produced" }, el("span", { class: "flabel" }, f.label), el("span", { class: "muted" }, "由“" + f.produced_by + "”办结后自动生成，无需填写"));
      }
      const { id, control } = input(f);
      const err = el("div", { class: "ferror", role: "alert" }, f.error || "");
      const save = async () => {
        const value = control.value.trim();
        if (value === (f.value || "")) return;
        if (!value) { err.textContent = "请填写“" + f.label + "”"; return; }
        try {
          const res = await api("/sessions/" + session().id + "/form", { method: "POST", body: JSON.stringify({ key: f.key, value }) });
          render(node, await res.json());
          const again = node.querySelector('[data-key="' + f.key + '"] input, [data-key="' + f.key + '"] select');
          if (again && document.activeElement === document.body) again.focus();
        } catch (e) {
          err.textContent = (e.fields && e.fields[f.key]) || e.message;
          control.setAttribute("aria-invalid", "true");
        }
      };
      control.addEventListener("change", save);
      return el("div", { class: "field" + (f.error ? " invalid" : "") + (view.asking.includes(f.key) ? " asking" : ""), "data-key": f.key },
        el("label", { for: id, class: "flabel" }, f.label, f.required ? el("span", { class: "req", "aria-label": "必填" }, "*") : null),
        control,
        f.source ? el("span", { class: "source", title: "预填来源，请核对" }, f.source) : null,
        f.help ? el("div", { class: "muted" }, f.help) : null,
        err);
    });
    const note = el("p", { class: "ferror", role: "alert" });
    const send = el("button", { type: "button", class: "primary", disabled: !view.complete, onclick: () => submitForm(node, view, note, send) }, "提交申请");
    node.replaceChildren(
      el("div", { class: "card-head" }, el("h3", {}, view.title), el("div", { class: "dept" }, "已填 " + filled + " / " + asked + " 项 · 预填内容请逐项核对，可直接修改")),
      el("div", { class: "fields" }, rows),
      view.materials.length ? el("details", { class: "mats-box", open: true }, el("summary", {}, "需要提交的材料（" + view.materials.filter((m) => !m.exempt).length + " 份，另有 " + view.materials.filter((m) => m.exempt).length + " 份免提交）"),
        el("ul", { class: "mats" }, view.materials.map(materialRow))) : null,
      el("div", { class: "form-actions" }, send, view.complete ? null : el("span", { class: "muted" }, "还有必填项未完成，可在对话中回答或直接在表单中填写")),
      note);
  }

  async function submitForm(node, view, note, btn) {
    const values = {};
    node.querySelectorAll(".field[data-key]").forEach((row) => {
      const c = row.querySelector("input, select");
      if (c && c.value.trim()) values[row.dataset.key] = c.value.trim();
    });
    btn.disabled = true; note.textContent = "";
    try {
      const res = await api("/sessions/" + session().id + "/applications", { method: "POST", body: JSON.stringify({ target: view.target.code, values }) });
      const a = await res.json();
      retire(node);
      node.after(tracking(a));
      scroll();
    } catch (e) {
      btn.disabled = false;
      note.textContent = e.message;
      for (const [k, msg] of Object.entries(e.fields || {})) {
        const row = node.querySelector('.field[data-key="' + k + '"]');
        if (row) { row.classList.add("invalid"); row.querySelector(".ferror").textContent = msg; }
      }
    }
  }

  function tracking(a) {
    return el("div", { class: "card done" },
      el("h3", {}, "✓ 申请已提交"),
      el("p", {}, a.target_name),
      el("p", { class: "tracking" }, "受理编号 ", el("b", {}, a.tracking_no)),
      el("p", { class: "muted" }, "部门受理后开始计算承诺时限" + (a.promised_days ? "（" + a.promised_days + " 个工作日）" : "") + "。"),
      el("button", { type: "button", class: "primary", onclick: () => submit("进度查询 " + a.tracking_no) }, "查询办理进度"));
  }

  function actions(list) {
    return el("div", { class: "options actions" }, list.map((a) => el("button", { type: "button", onclick: () => submit(a.text) }, a.label)));
  }

  // ---------- sign-in ----------
  const who = document.getElementById("signin");
  function showWho(c) {
    who.textContent = c ? c.display_name + " · 退出" : "登录";
    who.setAttribute("aria-label", c ? "已登录：" + c.display_name + "，点击退出" : "登录（登录后可自动预填表单）");
    ctx.store.set("citizen", c ? { display_name: c.display_name } : null);
    document.dispatchEvent(new CustomEvent(c ? "banshi:signed-in" : "banshi:signed-out"));
  }
  who.addEventListener("click", async () => {
    const me = ctx.store.get("citizen");
    if (me && session()) {
      try { await api("/sessions/" + session().id + "/sign-out", { method: "POST" }); } catch {}
      showWho(null);
      return;
    }
    const user = el("input", { id: "si-user", autocomplete: "username", required: true });
    const pass = el("input", { id: "si-pass", type: "password", autocomplete: "current-password", required: true });
    // On a shared device the conversation is kept only until the tab closes (sessionStorage).
    const pub = el("input", { id: "si-public", type: "checkbox", checked: ctx.store.public() });
    const msg = el("p", { class: "ferror", role: "alert" });
    const form = el("form", { class: "signin", onsubmit: async (e) => {
      e.preventDefault();
      try {
        if (pub.checked) ctx.store.usePublic();
        await ctx.ensureSession();
        const res = await api("/sessions/" + session().id + "/sign-in", { method: "POST", body: JSON.stringify({ username: user.value.trim(), password: pass.value }) });
        showWho(await res.json());
        closeDrawer();
      } catch (err) { msg.textContent = err.message; }
    } },
      el("p", { class: "muted" }, "登录后，办理时将用您的个人档案和电子证照自动预填表单，并免交已有电子证照的材料。"),
      el("label", { for: "si-user" }, "账号"), user,
      el("label", { for: "si-pass" }, "密码"), pass,
      el("label", { class: "check", for: "si-public" }, pub, "在公共设备上（关闭页面即退出，不在本机保留对话）"),
      el("button", { type: "submit", class: "primary" }, "登录"), msg);
    openDrawer("统一身份认证登录", form);
    user.focus();
  });
  showWho(ctx.store.get("citizen"));
  // The server ends a sign-in after a while unused: check the one remembered here.
  if (ctx.store.get("citizen") && session()) {
    api("/sessions/" + session().id + "/profile").catch((e) => { if (e.status === 401 || e.status === 403) showWho(null); });
  }

  // ---------- 预审材料: upload materials, then a report ----------
  // not_uploaded: an optional material nobody uploaded — neutral, neither passed nor failed.
  const verdictZh = { not_uploaded: "未上传（非必需）", pass: "通过", fix: "需补正", fail: "不通过" };

  function reportCard(r) {
    const row = (m) => el("li", { class: "pr-" + m.verdict },
      el("span", { class: "mat-name" }, m.material), el("span", { class: "badge v-" + m.verdict }, verdictZh[m.verdict]),
      m.note ? el("div", { class: "muted" }, m.note) : null,
      m.findings.map((f) => el("div", { class: "finding" }, f.reason, el("div", { class: "muted" }, "处理建议：" + f.fix))));
    return el("div", { class: "card report" },
      el("div", { class: "card-head" }, el("h3", {}, "材料预审结果", el("span", { class: "badge v-" + r.verdict }, verdictZh[r.verdict])), el("div", { class: "dept" }, r.summary)),
      el("ul", { class: "mats" }, r.materials.map(row)),
      r.unmatched && r.unmatched.length ? [el("h4", {}, "未对应到材料清单的文件"), el("ul", { class: "mats" }, r.unmatched.map(row))] : null,
      r.commitment ? el("details", { class: "mats-box" }, el("summary", {}, "告知承诺书（容缺受理）"), el("pre", { class: "commitment" }, r.commitment)) : null);
  }

  async function openUpload() {
    await ctx.ensureSession();
    let form = null;
    try { form = await (await api("/sessions/" + session().id + "/form")).json(); } catch {}
    const list = el("ul", { class: "uploads" });
    const msg = el("p", { class: "note", role: "status" });
    const refresh = async () => {
      const ups = await (await api("/sessions/" + session().id + "/uploads")).json();
      list.replaceChildren(...ups.map((u) => el("li", {}, u.file_name + " · 识别为" + (u.recognised.kind === "other" ? "未识别" : ({ id_card: "居民身份证", hukou: "居民户口簿", business_licence: "营业执照", birth_certificate: "出生医学证明", marriage_certificate: "结婚证", property_certificate: "不动产权证书", contract: "合同", application_form: "申请表" }[u.recognised.kind] || u.recognised.kind)) + (u.declared ? "（" + u.declared + "）" : ""))));
    };
    const needed = form ? form.materials.filter((m) => !m.exempt) : [];
    const pick = el("select", { id: "up-material" }, el("option", { value: "" }, "自动识别材料类型"), needed.map((m) => el("option", { value: m.name }, m.name)));
    const file = el("input", { id: "up-file", type: "file", accept: "application/pdf,image/jpeg,image/png" });
    const send = el("button", { type: "button", class: "primary", onclick: async () => {
      if (!file.files.length) { msg.textContent = "请选择文件"; return; }
      const body = new FormData();
      if (pick.value) body.append("material", pick.value);
      body.append("file", file.files[0]);
      send.disabled = true; msg.textContent = "正在上传并识别…";
      try {
        const res = await fetch("/api/v1/sessions/" + session().id + "/uploads", { method: "POST", headers: { Authorization: "Bearer " + session().token }, body });
        const b = await res.json();
        if (!res.ok) throw new Error((b.error && b.error.message) || "上传失败");
        msg.textContent = "已上传：" + b.upload.file_name;
        if (b.form) ctx.replaceForm(b.form);
        file.value = ""; await refresh();
      } catch (e) { msg.textContent = e.message; }
      send.disabled = false;
    } }, "上传");
    const review = el("button", { type: "button", class: "primary", onclick: async () => {
      review.disabled = true; msg.textContent = "正在预审…";
      try {
        const res = await api("/sessions/" + session().id + "/prereview", { method: "POST", body: JSON.stringify({}) });
        const a = await res.json();
        closeDrawer();
        ctx.showReport(a.report, a.handoff_refused);
        if (a.ticket_id) ctx.showTicketNotice();
      } catch (e) { msg.textContent = e.message; review.disabled = false; }
    } }, "开始预审");
    await refresh();
    openDrawer("预审材料",
      el("p", { class: "muted" }, form ? "正在为“" + form.title + "”准备材料。支持 PDF、JPG、PNG，单个文件不超过 10 MB。" : "请先在对话中选择要办理的事项（如“我要办新生儿出生一件事”），再上传材料预审。"),
      form ? el("div", { class: "signin" }, el("label", { for: "up-material" }, "材料"), pick, el("label", { for: "up-file" }, "文件"), file, send) : null,
      el("h4", {}, "已上传"), list,
      form ? review : null, msg);
  }

  return { bundleCard, formCard, actions, tracking, reportCard, openUpload, signedOut: () => showWho(null) };
};
