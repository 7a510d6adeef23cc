// 长辈版 (elder mode), a visible switch remembered on the device: large type and high contrast
// (app.css, `:root.elder`), bigger touch targets, four quick actions instead of all, a
// 请工作人员帮我 button that is always on screen, an answer that opens with the card's essentials
// (materials, time limit, fee, place) and keeps the long text one tap away, and no sign-in
// running out while the citizen is still typing.
window.banshiElder = function (ctx) {
  "use strict";
  const { el, api, store, submit, session } = ctx;
  const root = document.documentElement;
  const button = document.getElementById("elder");
  const chat = document.getElementById("chat");
  const input = document.getElementById("input");
  const help = document.getElementById("helpme");

  function apply(on) {
    root.classList.toggle("elder", on);
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "标准版" : "长辈版";
    button.setAttribute("aria-label", on ? "长辈版已开启，点击切换回标准版" : "切换到长辈版（大字、高对比、简化操作）");
    help.hidden = !on;
    store.set("elder", on);
    if (on) chat.querySelectorAll(".msg.assistant .bubble").forEach(shorten);
  }

  // The card first; the long answer behind one tap. Runs again as streamed text grows.
  function shorten(bubble) {
    if (!root.classList.contains("elder")) return;
    const answer = bubble.querySelector(":scope > .answer");
    if (!answer || !bubble.querySelector(":scope > .card") || answer.closest("details")) return;
    if (answer.textContent.length < 60) return;
    const box = el("details", { class: "more" }, el("summary", {}, "查看详细说明"));
    answer.replaceWith(box);
    box.append(answer);
  }

  new MutationObserver((changes) => {
    for (const c of changes) {
      const bubble = c.target.closest && c.target.closest(".msg.assistant .bubble");
      if (bubble) shorten(bubble);
    }
  }).observe(chat, { childList: true, subtree: true, characterData: true });

  // A signed-in session ends after a while unused; typing is use: tell the server every minute.
  setInterval(() => {
    if (!root.classList.contains("elder") || !session() || !store.get("citizen")) return;
    if (document.activeElement !== input && !input.value) return;
    api("/sessions/" + session().id + "/profile").catch(() => {});
  }, 60000);

  button.addEventListener("click", () => apply(!root.classList.contains("elder")));
  help.addEventListener("click", () => submit("请工作人员帮我"));
  // The 大字 setting of earlier versions becomes 长辈版.
  apply(!!store.get("elder") || !!store.get("big"));
  store.del("big");
};
