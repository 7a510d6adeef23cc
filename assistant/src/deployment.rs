//! What a deployment is, as data (`assistant/data/deployment.toml`, or a city's own file): the
//! city's name and hotline, the places that are its own, and where to send a citizen whose
//! question no city department handles (another country's visa, a train ticket, a lawsuit) —
//! a polite reply that says where to go, not a place in the agent queue.
//!
//! Loading fails with [`DeploymentError`] naming the file and the problem; nothing here is
//! written at run time.

use std::collections::BTreeMap;
use std::path::Path;

use banshi_knowledge::segment::place_names;
use serde::Deserialize;

/// The `[departments]` entry for domains without their own.
const DEFAULT_DEPARTMENT: &str = "default";

/// The deployment file the project ships (the sample city 示例市).
const BUNDLED: &str = include_str!("../data/deployment.toml");

#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("{path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub city: City,
    /// Classifier domain → the department a ticket about no item is suggested for; the
    /// `default` entry for any other domain.
    pub departments: BTreeMap<String, String>,
    pub replies: Replies,
    /// Matters handled outside the city's departments, checked in file order.
    #[serde(default, rename = "referral")]
    pub referrals: Vec<Referral>,
    /// Greetings and thanks answered without retrieval. Required (`small_talk = []` for none),
    /// so that a file written before small talk was data is refused, not silently mute.
    #[serde(rename = "small_talk")]
    pub small_talk: Vec<SmallTalk>,
}

/// A greeting or thanks: a message that is exactly one of `says` (ignoring closing
/// punctuation and case) gets `reply`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmallTalk {
    pub says: Vec<String>,
    pub reply: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct City {
    pub name: String,
    pub hotline: String,
    /// Places that are this city or contain it; any other place name is another region.
    pub own_places: Vec<String>,
    /// Words the segmenter tags as place names that are not places.
    #[serde(default)]
    pub not_places: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replies {
    /// To a question outside government services; `{city}` is replaced.
    pub out_of_scope: String,
    /// To a question about another region's rules; `{place}` and `{city}` are replaced.
    pub other_region: String,
}

/// A kind of matter that no city department handles, told by the words citizens use for it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    pub topic: String,
    pub words: Vec<String>,
    /// Where to go instead, in full sentences.
    pub reply: String,
}

/// Where a question is sent instead of the agent queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Elsewhere<'a> {
    /// A matter of a kind no city department handles.
    Topic(&'a Referral),
    /// Another region's rules (the place named).
    OtherRegion(String),
}

impl Deployment {
    /// The shipped deployment file.
    pub fn bundled() -> Self {
        Self::parse(BUNDLED, "assistant/data/deployment.toml").expect("the bundled deployment file is valid")
    }

    /// Read a city's own deployment file.
    pub fn from_file(path: &Path) -> Result<Self, DeploymentError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| DeploymentError::Read { path: path.display().to_string(), detail: e.to_string() })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, path: &str) -> Result<Self, DeploymentError> {
        let invalid = |detail: String| DeploymentError::Invalid { path: path.to_string(), detail };
        let d: Deployment = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if d.city.name.trim().is_empty() {
            return Err(invalid("city.name is empty".into()));
        }
        if !d.departments.contains_key(DEFAULT_DEPARTMENT) {
            return Err(invalid(format!("[departments] needs a `{DEFAULT_DEPARTMENT}` entry")));
        }
        if let Some(r) = d.referrals.iter().find(|r| r.words.iter().any(|w| w.chars().count() < 2)) {
            return Err(invalid(format!("referral “{}”: every word needs at least 2 characters", r.topic)));
        }
        Ok(d)
    }

    /// The reply to a message that is only a greeting or thanks (“你好！”, not “你好，我想换身份证”).
    pub fn small_talk(&self, msg: &str) -> Option<String> {
        let m = msg.trim().trim_end_matches(['！', '!', '。', '.', '~', '～']).to_lowercase();
        let talk = self.small_talk.iter().find(|t| t.says.iter().any(|s| s.to_lowercase() == m))?;
        Some(talk.reply.replace("{city}", &self.city.name))
    }

    /// The referral whose words the message uses, if any.
    pub fn topic_of(&self, msg: &str) -> Option<&Referral> {
        self.referrals.iter().find(|r| r.words.iter().any(|w| msg.contains(w.as_str())))
    }

    /// Another region the message asks about: a place name that is not one of ours, not the
    /// destination or origin of a move (“去香港”, “从北京迁来” are questions for this city), in
    /// a message that names no place of ours.
    pub fn other_region(&self, msg: &str) -> Option<String> {
        let places = place_names(msg);
        if places.iter().any(|p| self.is_own(p)) || self.city.own_places.iter().any(|p| msg.contains(p.as_str())) {
            return None;
        }
        let not_a_place = |p: &str| self.city.not_places.iter().any(|n| n == p);
        places.into_iter().find(|p| !self.is_own(p) && !not_a_place(p) && !after_a_move(msg, p)).map(str::to_string)
    }

    /// Where `msg` is sent instead of the queue: a topic first, then another region.
    pub fn elsewhere(&self, msg: &str) -> Option<Elsewhere<'_>> {
        self.topic_of(msg).map(Elsewhere::Topic).or_else(|| self.other_region(msg).map(Elsewhere::OtherRegion))
    }

    /// The citizen's reply for `to`.
    pub fn referral_reply(&self, to: &Elsewhere<'_>) -> String {
        match to {
            Elsewhere::Topic(r) => format!("这个问题不属于{}政务服务事项。{}", self.city.name, r.reply),
            Elsewhere::OtherRegion(place) => self.replies.other_region.replace("{place}", place).replace("{city}", &self.city.name),
        }
    }

    /// The reply to a question outside government services.
    pub fn out_of_scope_reply(&self) -> String {
        self.replies.out_of_scope.replace("{city}", &self.city.name)
    }

    /// The department that handles a classifier domain (routing for tickets about no item).
    pub fn department_for(&self, domain: &str) -> &str {
        self.departments.get(domain).or_else(|| self.departments.get(DEFAULT_DEPARTMENT)).map(String::as_str).unwrap_or_default()
    }

    fn is_own(&self, place: &str) -> bool {
        self.city.own_places.iter().any(|o| o == place || o.contains(place))
    }
}

/// Whether `place` follows a word of moving (去, 到, 从, 来, 往, 赴, 回, 返, 离) in `msg`.
fn after_a_move(msg: &str, place: &str) -> bool {
    msg.match_indices(place).any(|(at, _)| msg[..at].chars().next_back().is_some_and(|c| "去到从来往赴回返离由".contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_file_loads() {
        let d = Deployment::bundled();
        assert_eq!(d.city.name, "示例市");
        assert!(d.referrals.len() >= 5);
        assert!(d.out_of_scope_reply().contains("示例市"));
        assert_eq!(d.department_for("治安"), "示例市公安局");
        assert_eq!(d.department_for("不存在的领域"), "示例市政务服务和数据管理局");
    }

    #[test]
    fn small_talk_is_a_whole_message() {
        let d = Deployment::bundled();
        assert!(d.small_talk("你好！").is_some_and(|r| r.contains("示例市政务服务智能客服")));
        assert!(d.small_talk("Hello").is_some());
        assert!(d.small_talk("你好，我想换身份证").is_none());
    }

    #[test]
    fn topics_by_their_words() {
        let d = Deployment::bundled();
        let topic = d.topic_of("去南极旅游的签证要多久").map(|r| r.topic.as_str());
        assert_eq!(topic, Some("外国签证与移民"));
        assert!(d.topic_of("居民身份证换领要带什么材料").is_none());
        let reply = d.referral_reply(&d.elsewhere("我要起诉房东").unwrap());
        assert!(reply.starts_with("这个问题不属于示例市政务服务事项") && reply.contains("人民法院"), "{reply}");
    }

    #[test]
    fn another_region_only_when_it_is_the_place_asked_about() {
        let d = Deployment::bundled();
        assert_eq!(d.other_region("杭州的居住证积分怎么算").as_deref(), Some("杭州"));
        assert_eq!(d.other_region("在杭州上班的话社保怎么交").as_deref(), Some("杭州"));
        assert_eq!(d.other_region("从杭州迁户口过来要什么材料"), None, "a move into this city");
        assert_eq!(d.other_region("去香港要办什么证件"), None, "a trip from this city");
        assert_eq!(d.other_region("杭州的房子在示例市能办抵押吗"), None, "names this city too");
        assert_eq!(d.other_region("身份证丢了怎么补办"), None);
        let reply = d.referral_reply(&Elsewhere::OtherRegion("杭州".into()));
        assert!(reply.contains("杭州的办事规定") && reply.contains("示例市"), "{reply}");
    }

    #[test]
    fn a_broken_file_says_what_is_wrong() {
        let err = Deployment::parse("[city]\nname = \"\"\n", "x.toml").unwrap_err().to_string();
        assert!(err.starts_with("x.toml: "), "{err}");
        let no_default = BUNDLED.replace("default = ", "\"其他\" = ");
        assert!(Deployment::parse(&no_default, "x.toml").unwrap_err().to_string().contains("`default`"));
        let start = BUNDLED.find("[[small_talk]]").expect("bundled small talk");
        let end = BUNDLED[start..].find("\n[replies]").map_or(BUNDLED.len(), |e| start + e);
        let mute = format!("{}{}", &BUNDLED[..start], &BUNDLED[end..]);
        assert!(Deployment::parse(&mute, "x.toml").unwrap_err().to_string().contains("small_talk"));
        let mut text = BUNDLED.to_string();
        text.push_str("\n[[referral]]\ntopic = \"短\"\nwords = [\"税\"]\nreply = \"…\"\n");
        assert!(Deployment::parse(&text, "x.toml").unwrap_err().to_string().contains("at least 2 characters"));
        assert!(Deployment::from_file(Path::new("/nonexistent/deployment.toml")).is_err());
    }
}
