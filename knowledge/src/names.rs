//! Item names and aliases, for questions that name their item verbatim.
//!
//! “换身份证要带什么材料” names 居民身份证换领 by its alias 换身份证; word statistics alone may
//! still rank another item's FAQ higher (it shares 身份证 and 带). A name or alias found in the
//! question, longest first, is the strongest evidence of the item there is, so search puts
//! that item on top. Names shorter than two characters never match.
//!
//! Locking: one `RwLock`; lookups take the read lock for one pass over all names (a few
//! thousand `contains` checks, well under a millisecond), updates the write lock.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::guide::Guide;

#[derive(Default)]
pub struct NameIndex {
    by_code: RwLock<HashMap<String, Vec<String>>>,
}

/// Lower-cased, without whitespace: how names and questions are compared.
fn normalise(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

impl NameIndex {
    /// Record (or replace) the names of `guide`.
    pub fn set(&self, guide: &Guide) {
        self.set_names(&guide.code, &guide.name, &guide.aliases);
    }

    /// Record (or replace) the name and aliases of a guide or bundle.
    pub fn set_names(&self, code: &str, name: &str, aliases: &[String]) {
        let names: Vec<String> =
            std::iter::once(name).chain(aliases.iter().map(String::as_str)).map(normalise).filter(|n| n.chars().count() >= 2).collect();
        self.by_code.write().expect("name index lock").insert(code.to_string(), names);
    }

    /// Forget `code` (its guide was withdrawn).
    pub fn remove(&self, code: &str) {
        self.by_code.write().expect("name index lock").remove(code);
    }

    /// Codes of the items whose longest name found in `question` is the longest found for any
    /// item; empty when the question names none. Sorted, so the result is deterministic.
    pub fn named_in(&self, question: &str) -> Vec<String> {
        let q = normalise(question);
        let mut best = 0;
        let mut codes = Vec::new();
        for (code, names) in self.by_code.read().expect("name index lock").iter() {
            let Some(len) = names.iter().filter(|n| q.contains(n.as_str())).map(|n| n.chars().count()).max() else { continue };
            if len > best {
                best = len;
                codes.clear();
            }
            if len == best {
                codes.push(code.clone());
            }
        }
        codes.sort();
        codes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guide(code: &str, name: &str, aliases: &[&str]) -> Guide {
        let mut g: Guide = serde_json::from_value(serde_json::json!({
            "code": code, "name": name, "kind": "公共服务", "department": "示例市公安局", "region": "示例市",
            "source": {"kind": "sample"}
        }))
        .unwrap();
        g.aliases = aliases.iter().map(|a| a.to_string()).collect();
        g
    }

    #[test]
    fn the_longest_name_in_the_question_wins() {
        let n = NameIndex::default();
        n.set(&guide("A", "居民身份证换领", &["换身份证"]));
        n.set(&guide("B", "临时居民身份证申领", &["临时身份证", "证"]));
        n.set(&guide("C", "内地居民结婚登记", &["领结婚证"]));
        assert_eq!(n.named_in("换身份证要带什么材料？"), ["A"]);
        assert_eq!(n.named_in("换 临时身份证 多少钱"), ["B"], "临时身份证 (5) beats 换身份证 (not contained) and 证 (too short)");
        assert!(n.named_in("护照怎么办").is_empty());
        n.remove("A");
        assert!(n.named_in("换身份证").is_empty());
    }

    #[test]
    fn ties_name_every_item() {
        let n = NameIndex::default();
        n.set(&guide("A", "公积金提取", &[]));
        n.set(&guide("B", "公积金贷款", &["公积金提取"]));
        assert_eq!(n.named_in("公积金提取要什么"), ["A", "B"]);
    }
}
