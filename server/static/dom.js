// Shared by the citizen page and the staff consoles: `el(tag, attrs, ...children)` builds DOM
// nodes without innerHTML (nothing from the server is ever parsed as HTML). `on…` attributes
// become listeners; `style` goes through the CSSOM, which the pages' CSP allows.
window.banshiDom = (() => {
  "use strict";
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k === "style") e.style.cssText = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  };
  return { el };
})();
