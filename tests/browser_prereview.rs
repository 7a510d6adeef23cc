//! 预审材料 in headless Chromium: for 出生登记 (an item of the 新生儿出生一件事 bundle), a citizen
//! uploads a clean set through the page's uploader and gets a passing report; in a new
//! conversation a defective set (wrong ID checksum, expired, a missing material) gets a failing
//! report that says what is wrong and what to do. Screenshots of both reports.

mod common;

use std::time::Duration;

use banshi_eval::corpus::text_pdf;
use common::browser::*;
use common::*;
use fantoccini::{Client, Locator};

const WAIT: Duration = Duration::from_secs(30);

async fn say(c: &Client, text: &str) {
    let before = count(c, ".msg.assistant").await;
    c.find(Locator::Css("#input")).await.unwrap().send_keys(text).await.unwrap();
    c.find(Locator::Css("#send")).await.unwrap().click().await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while count(c, ".msg.assistant").await <= before || count(c, ".msg.user.pending").await > 0 {
        assert!(std::time::Instant::now() < deadline, "no answer to {text:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn upload(c: &Client, material: &str, path: &std::path::Path) {
    let select = c.wait().at_most(WAIT).for_element(Locator::Css("#up-material")).await.unwrap();
    select.select_by_value(material).await.unwrap();
    c.find(Locator::Css("#up-file")).await.unwrap().send_keys(&path.display().to_string()).await.unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    click_text(c, "#drawer button.primary", "上传", WAIT).await;
    wait_text(c, "#drawer .uploads", &name, WAIT).await;
}

fn lines(ls: &[&str]) -> Vec<String> {
    ls.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn clean_and_defective_sets_get_their_reports() {
    let Some(mut driver) = Driver::start("clean_and_defective_sets_get_their_reports") else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let server = Server::start(dir.path(), None, &[]);
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, ls: &[&str]| {
        let p = files.path().join(name);
        std::fs::write(&p, text_pdf(&lines(ls))).unwrap();
        p
    };
    let birth = write(
        "出生医学证明.pdf",
        &[
            "出生医学证明",
            "新生儿姓名 陈思语",
            "出生时间 2026年11月18日",
            "母亲姓名 林晓梅",
            "母亲身份证件号码 35010219930412124X",
            "父亲姓名 陈志强",
            "父亲身份证件号码 350102199108201330",
        ],
    );
    let mother =
        write("母亲身份证.pdf", &["居民身份证", "姓名 林晓梅", "公民身份号码 35010219930412124X", "有效期限 2021.03.01-2041.03.01"]);
    let hukou = write("户口簿.pdf", &["居民户口簿", "户主姓名 陈志强", "户别 家庭户", "姓名 林晓梅", "公民身份号码 35010219930412124X"]);
    let bad_id = write("身份证.pdf", &["居民身份证", "姓名 林晓梅", "公民身份号码 350102199304121241", "有效期限 2010.03.01-2020.03.01"]);

    let c = driver.browser("430,1200").await;
    c.goto(&server.url).await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();
    say(&c, "新生儿出生登记落户需要什么材料").await;
    say(&c, "开始办理").await;
    wait_text(&c, ".formcard", "母亲姓名", WAIT).await;
    for (key, value) in [("mother_name", "林晓梅"), ("mother_id_number", "35010219930412124X")] {
        let input = c.find(Locator::Css(&format!(".formcard:not(.stale) [data-key={key}] input"))).await.unwrap();
        input.send_keys(&format!("{value}\t")).await.unwrap();
        wait_text(&c, &format!(".formcard:not(.stale) [data-key={key}] .source"), "本人填写", WAIT).await;
    }

    click_text(&c, "#quick button", "预审材料", WAIT).await;
    upload(&c, "出生医学证明", &birth).await;
    upload(&c, "父母双方居民身份证", &mother).await;
    upload(&c, "随迁方居民户口簿", &hukou).await;
    shot(&c, "prereview-1-uploader.png").await;
    click_text(&c, "#drawer button.primary", "开始预审", WAIT).await;
    let report = wait_text(&c, ".card.report", "材料预审结果", WAIT).await;
    let text = report.text().await.unwrap();
    assert!(report.find(Locator::Css(".card-head .v-pass")).await.is_ok(), "{text}");
    assert!(report.find_all(Locator::Css(".v-fix, .v-fail")).await.unwrap().is_empty(), "{text}");
    // The optional 父母结婚证 was not uploaded: a neutral 未上传（非必需）, not a green 通过.
    let optional = report.find(Locator::Css(".pr-not_uploaded")).await.unwrap_or_else(|_| panic!("an optional line: {text}"));
    let optional_text = optional.text().await.unwrap();
    assert!(
        optional_text.contains("父母结婚证") && optional_text.contains("未上传（非必需）") && !optional_text.contains("通过"),
        "{optional_text}"
    );
    shot(&c, "prereview-2-clean-report.png").await;

    // A new conversation with a defective set.
    c.execute("localStorage.clear(); location.reload();", vec![]).await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();
    say(&c, "新生儿出生登记落户需要什么材料").await;
    say(&c, "开始办理").await;
    click_text(&c, "#quick button", "预审材料", WAIT).await;
    upload(&c, "父母双方居民身份证", &bad_id).await;
    click_text(&c, "#drawer button.primary", "开始预审", WAIT).await;
    let report = wait_text(&c, ".card.report", "不通过", WAIT).await;
    let text = report.text().await.unwrap();
    for want in ["校验位", "过期", "缺少此材料", "处理建议"] {
        assert!(text.contains(want), "{want} in {text}");
    }
    shot(&c, "prereview-3-defective-report.png").await;
    c.close().await.unwrap();
}
