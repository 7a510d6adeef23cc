//! A citizen and an agent side by side in headless Chromium: the citizen complains and sees
//! the queue position; the agent's console shows the ticket without a reload; the agent
//! claims and replies and the citizen sees it live; the agent resolves; the citizen rates
//! 不满意 and a follow-up ticket appears in the console. Screenshots in the test's output dir.

mod common;

use std::time::Duration;

use common::browser::*;
use common::*;
use fantoccini::Locator;

const PW: &str = "Agent-Pass-2026";
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn citizen_and_agent_side_by_side() {
    let Some(mut driver) = Driver::start("citizen_and_agent_side_by_side") else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "zhang", "agent", PW);
    let server = Server::start(dir.path(), None, &[]);
    let citizen = driver.browser("420,900").await;
    let agent = driver.browser("1280,860").await;

    // The agent logs in; the queue is empty.
    agent.goto(&format!("{}/agent", server.url)).await.unwrap();
    agent.wait().at_most(WAIT).for_element(Locator::Css("#login-form")).await.unwrap();
    agent.find(Locator::Css("#username")).await.unwrap().send_keys("zhang").await.unwrap();
    agent.find(Locator::Css("#password")).await.unwrap().send_keys(PW).await.unwrap();
    agent.find(Locator::Css("#login-form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_text(&agent, "#live", "实时连接", WAIT).await;

    // The citizen complains and is handed off with a queue position.
    citizen.goto(&server.url).await.unwrap();
    citizen.wait().at_most(WAIT).for_element(Locator::Css("#quick button")).await.unwrap();
    citizen.find(Locator::Css("#input")).await.unwrap().send_keys("小区门口的垃圾好几天没人清运，臭气熏天，我要投诉！").await.unwrap();
    citizen.find(Locator::Css("#send")).await.unwrap().click().await.unwrap();
    wait_text(&citizen, "#handoff", "已转人工", WAIT).await;
    wait_text(&citizen, ".msg.assistant .answer", "已为您转接人工客服", WAIT).await;
    shot(&citizen, "handoff-1-citizen-queued.png").await;

    // The ticket appears in the console without a reload; the agent claims it.
    wait_text(&agent, "#list .item", "投诉求助", WAIT).await;
    click_text(&agent, "#list .item", "垃圾", WAIT).await;
    wait_text(&agent, ".summary", "市民诉求", WAIT).await;
    shot(&agent, "handoff-2-agent-ticket.png").await;
    click_text(&agent, ".actions button", "接单", WAIT).await;
    agent.wait().at_most(WAIT).for_element(Locator::Css("#reply")).await.unwrap();
    wait_text(&citizen, ".msg.system", "已接入", WAIT).await;
    wait_text(&citizen, "#handoff", "正在为您服务", WAIT).await;

    // The agent replies; the citizen sees it live.
    agent.find(Locator::Css("#reply")).await.unwrap().send_keys("您好，已通知环卫部门今天下午清运，请您留意。").await.unwrap();
    agent.find(Locator::Css("#send-reply")).await.unwrap().click().await.unwrap();
    wait_text(&citizen, ".msg.agent", "环卫部门今天下午清运", WAIT).await;
    wait_text(&agent, "#transcript .msg.agent", "环卫部门", WAIT).await;
    shot(&citizen, "handoff-3-citizen-sees-reply.png").await;

    // The agent resolves (the note goes through the browser's prompt dialog).
    click_text(&agent, ".actions button", "办结", WAIT).await;
    agent.send_alert_text("已通知环卫清运").await.unwrap();
    agent.accept_alert().await.unwrap();
    wait_text(&agent, ".detail-head", "已办结", WAIT).await;

    // The citizen is asked to rate and chooses 不满意; a follow-up ticket reaches the console.
    wait_text(&citizen, ".rating", "请对本次人工服务进行评价", WAIT).await;
    let levels = citizen.find_all(Locator::Css(".rating .level")).await.unwrap();
    assert_eq!(levels.len(), 5, "the five national levels");
    levels[3].click().await.unwrap();
    assert_eq!(levels[3].text().await.unwrap(), "不满意");
    citizen.find(Locator::Css(".rating textarea")).await.unwrap().send_keys("垃圾还没清运").await.unwrap();
    citizen.find(Locator::Css(".rating .send-rating")).await.unwrap().click().await.unwrap();
    wait_text(&citizen, ".rating", "感谢您的评价", WAIT).await;
    wait_text(&citizen, ".msg.system", "安排工作人员回访", WAIT).await;
    shot(&citizen, "handoff-4-citizen-rated.png").await;
    wait_text(&agent, "#n-queue", "1", WAIT).await;
    agent.find(Locator::Css(".tabs button[data-view=queue]")).await.unwrap().click().await.unwrap();
    let follow = wait_text(&agent, "#list .item", "差评回访", WAIT).await;
    assert!(follow.text().await.unwrap().contains("紧急"), "follow-ups are urgent");
    shot(&agent, "handoff-5-agent-follow-up.png").await;
    citizen.close().await.unwrap();
    agent.close().await.unwrap();
}
