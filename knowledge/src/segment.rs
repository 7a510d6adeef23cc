//! One jieba segmenter for the process: jieba's default dictionary plus the 政务 user
//! dictionary (`dict/zhengwu.txt`). Loading takes ~0.3 s and tens of MB, so it is built once,
//! on first use, and shared by retrieval (sparse vectors) and answer verification (place names).
//!
//! The dictionary is static on purpose: changing it changes every document's sparse tokens
//! (bump `sparse::SPARSE_VERSION` when it does).

use std::sync::LazyLock;

use jieba_rs::Jieba;

const USER_DICT: &str = include_str!("../dict/zhengwu.txt");

static JIEBA: LazyLock<Jieba> = LazyLock::new(|| {
    let mut jieba = Jieba::new();
    jieba.load_dict(&mut USER_DICT.as_bytes()).expect("the bundled user dictionary is well-formed");
    jieba
});

/// The shared segmenter (built on first call).
pub fn jieba() -> &'static Jieba {
    &JIEBA
}

/// Place names (jieba's `ns` tag, two characters or more) in `text`, in order, repeated as
/// they occur: “到北京公安部办理” → [北京].
pub fn place_names(text: &str) -> Vec<&str> {
    jieba().tag(text, false).into_iter().filter(|t| t.tag == "ns" && t.word.chars().count() >= 2).map(|t| t.word).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cities_and_provinces_not_common_words() {
        assert_eq!(place_names("可以去上海或者广东省办理居住证"), vec!["上海", "广东省"]);
        assert!(place_names("携带居民身份证到派出所户籍窗口办理").is_empty());
    }
}
