//! The chat page's header and quick actions on phones, in headless Chromium: at 360–420 px wide,
//! in normal and 长辈版 (elder) mode, signed out and signed in as a sample citizen, the title
//! and subtitle are shown whole, every header control and the 评价服务 quick action is inside the
//! viewport, on top (nothing covers it), overlaps nothing else and is a ≥ 44 px touch target, and
//! the page never scrolls sideways. Screenshots of each state are saved in the test's output dir.

mod common;

use std::time::Duration;

use common::browser::*;
use common::*;
use fantoccini::{Client, Locator};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "Sample-Pass-2026";

/// Rectangles and facts about the header and the quick actions, measured in the page.
const MEASURE: &str = r##"
const rect = (e) => { if (!e) return null; const b = e.getBoundingClientRect();
  return { l: b.left, t: b.top, r: b.right, b: b.bottom, w: b.width, h: b.height }; };
// Is the element itself what a tap at its centre reaches (nothing drawn over it)?
const onTop = (e) => { const b = e.getBoundingClientRect();
  const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2); return !!hit && (hit === e || e.contains(hit)); };
const h1 = document.querySelector(".top h1");
const rate = [...document.querySelectorAll("#quick button")].find((b) => b.textContent.includes("评价服务"));
const sub = document.querySelector(".top .sub");
const items = { title: h1, sub, emblem: document.querySelector(".top .emblem"), signin: document.getElementById("signin"),
  elder: document.getElementById("elder"), restart: document.getElementById("restart"), rate };
const out = { vw: innerWidth, vh: innerHeight, scrollWidth: document.documentElement.scrollWidth,
  // A title cut by an ellipsis (or squeezed to nothing) is wider inside than its box.
  titleText: h1.textContent, titleCut: h1.scrollWidth > h1.clientWidth + 1, subCut: sub.scrollWidth > sub.clientWidth + 1,
  signinText: items.signin.textContent, rects: {}, onTop: {},
  // 长辈版 hides 转人工 (the 请工作人员帮我 button takes its place): only shown ones count.
  quick: [...document.querySelectorAll("#quick button")].filter((b) => getComputedStyle(b).display !== "none")
    .map((b) => ({ label: b.textContent, rect: rect(b) })) };
for (const [k, e] of Object.entries(items)) { out.rects[k] = rect(e); out.onTop[k] = e ? onTop(e) : false; }
return out;
"##;

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn inside(r: &Value, vw: f64, vh: f64) -> bool {
    num(&r["l"]) >= -0.5
        && num(&r["t"]) >= -0.5
        && num(&r["r"]) <= vw + 0.5
        && num(&r["b"]) <= vh + 0.5
        && num(&r["w"]) > 0.0
        && num(&r["h"]) > 0.0
}

/// Overlap area of two rectangles (0 when they only touch).
fn overlap(a: &Value, b: &Value) -> f64 {
    let w = num(&a["r"]).min(num(&b["r"])) - num(&a["l"]).max(num(&b["l"]));
    let h = num(&a["b"]).min(num(&b["b"])) - num(&a["t"]).max(num(&b["t"]));
    if w > 0.5 && h > 0.5 {
        w * h
    } else {
        0.0
    }
}

/// Every layout rule the header must keep; returns the broken ones (empty = fine).
/// `device` is the phone's width: a mobile browser widens its viewport (zooms out) when the
/// page is wider than the screen, so innerWidth alone would hide an overflow.
fn problems(m: &Value, state: &str, device: f64) -> Vec<String> {
    let mut bad = Vec::new();
    let (vw, vh) = (num(&m["vw"]), num(&m["vh"]));
    if vw != device {
        bad.push(format!("{state}: the page is wider than the {device} px screen (innerWidth {vw})"));
    }
    if num(&m["scrollWidth"]) > vw {
        bad.push(format!("{state}: page scrolls sideways (scrollWidth {} > innerWidth {vw})", m["scrollWidth"]));
    }
    let vw = vw.min(device);
    if m["titleCut"].as_bool() != Some(false) {
        bad.push(format!("{state}: the title {:?} is cut or squeezed: {}", m["titleText"], m["rects"]["title"]));
    }
    if m["subCut"].as_bool() != Some(false) {
        bad.push(format!("{state}: the subtitle is cut or overflows: {}", m["rects"]["sub"]));
    }
    let keys = ["title", "sub", "emblem", "signin", "elder", "restart", "rate"];
    for k in keys {
        let r = &m["rects"][k];
        if r.is_null() {
            bad.push(format!("{state}: {k} is missing"));
            continue;
        }
        if !inside(r, vw, vh) {
            bad.push(format!("{state}: {k} is not fully inside the {vw}x{vh} viewport: {r}"));
        } else if m["onTop"][k].as_bool() != Some(true) {
            bad.push(format!("{state}: {k} is covered by another element at its centre: {r}"));
        }
    }
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            let (ra, rb) = (&m["rects"][*a], &m["rects"][*b]);
            if !ra.is_null() && !rb.is_null() && overlap(ra, rb) > 0.0 {
                bad.push(format!("{state}: {a} {ra} overlaps {b} {rb}"));
            }
        }
    }
    // Touch targets: the header's buttons and every quick action, at least 44 × 44 CSS px.
    let mut targets: Vec<(String, Value)> =
        ["signin", "elder", "restart"].iter().map(|k| (k.to_string(), m["rects"][*k].clone())).collect();
    targets.extend(m["quick"].as_array().unwrap().iter().map(|q| (format!("quick {}", q["label"]), q["rect"].clone())));
    for (name, r) in targets {
        if !r.is_null() && (num(&r["w"]) < 44.0 || num(&r["h"]) < 44.0) {
            bad.push(format!("{state}: {name} is a {}x{} touch target (< 44 px)", r["w"], r["h"]));
        }
    }
    bad
}

async fn measure(c: &Client, shot_name: &str, state: &str, expect_width: f64) -> Vec<String> {
    let m = c.execute(MEASURE, vec![]).await.unwrap();
    shot(c, shot_name).await;
    eprintln!("{state}: {m}");
    problems(&m, state, expect_width)
}

async fn elder_mode(c: &Client, on: bool) {
    let b = c.find(Locator::Css("#elder")).await.unwrap();
    if b.attr("aria-pressed").await.unwrap().as_deref() != Some(if on { "true" } else { "false" }) {
        b.click().await.unwrap();
    }
    let pressed = c.find(Locator::Css("#elder")).await.unwrap().attr("aria-pressed").await.unwrap();
    assert_eq!(pressed.as_deref(), Some(if on { "true" } else { "false" }));
}

#[tokio::test]
async fn header_fits_phones_in_large_font_mode_signed_in() {
    let Some(mut driver) = Driver::start("header_fits_phones_in_large_font_mode_signed_in") else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    load_sample_citizens(dir.path(), PASSWORD);
    let server = Server::start(dir.path(), None, &[]);

    let mut bad = Vec::new();
    for (w, h) in [(390, 844), (360, 740), (420, 900)] {
        // A real phone viewport: a plain headless window is never narrower than 500 px.
        let c = driver.phone(w, h).await;
        let size = format!("{w}x{h}");
        c.goto(&server.url).await.unwrap();
        c.wait().for_element(Locator::Css("#quick button")).await.unwrap();
        wait_text(&c, "#quick button", "评价服务", WAIT).await;

        bad.extend(measure(&c, &format!("header-{size}-1-normal.png"), &format!("{size} normal, signed out"), w as f64).await);
        elder_mode(&c, true).await;
        bad.extend(measure(&c, &format!("header-{size}-2-big.png"), &format!("{size} 长辈版, signed out"), w as f64).await);

        // Sign in as a sample citizen (统一身份认证), still in 长辈版.
        c.find(Locator::Css("#signin")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("#si-user")).await.unwrap().send_keys("linxiaomei").await.unwrap();
        c.find(Locator::Css("#si-pass")).await.unwrap().send_keys(PASSWORD).await.unwrap();
        c.find(Locator::Css(".signin .primary")).await.unwrap().click().await.unwrap();
        wait_text(&c, "#signin", "林晓梅 · 退出", WAIT).await;
        c.wait().for_element(Locator::Css("#drawer[hidden]")).await.unwrap();

        bad.extend(measure(&c, &format!("header-{size}-3-big-signed-in.png"), &format!("{size} 长辈版, signed in"), w as f64).await);
        elder_mode(&c, false).await;
        bad.extend(measure(&c, &format!("header-{size}-4-normal-signed-in.png"), &format!("{size} normal, signed in"), w as f64).await);

        // The controls are reachable: 退出 (the signed-in name button) really signs out.
        elder_mode(&c, true).await;
        c.find(Locator::Css("#signin")).await.unwrap().click().await.unwrap();
        wait_text(&c, "#signin", "登录", WAIT).await;
        c.close().await.unwrap();
    }
    assert!(bad.is_empty(), "header layout problems:\n{}", bad.join("\n"));
}
