//! Held-out text stays out of the code: no question or message of any test split (the
//! project's own sets in `eval/data`, and MSGABench's test ids in `../shared/data`) may appear in
//! a `.rs` file of the workspace — not in rules, comments or unit tests. A rule shaped on a test
//! question makes its figure a dev figure.

use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The texts of every test split, trimmed of end punctuation; very short ones are left out
/// (two or three characters occur in code by chance).
fn held_out() -> Vec<String> {
    let root = workspace();
    let mut texts: Vec<String> = Vec::new();
    let field = |v: &Value, k: &str| v[k].as_str().map(str::to_string);
    for set in ["out_of_kb.jsonl", "injection.jsonl", "catalogue_questions.jsonl"] {
        let rows = jsonl(&root.join("eval/data").join(set));
        assert!(rows.iter().all(|v| v["split"] == "dev" || v["split"] == "test"), "{set}: every row has a dev or test split");
        texts.extend(rows.iter().filter(|v| v["split"] == "test").filter_map(|v| field(v, "question")));
    }
    let shared = root.join("../shared/data/msgabench");
    if shared.is_dir() {
        let test_id = |v: &Value| v["id"].as_u64().is_some_and(|id| id % 5 == 0);
        texts.extend(jsonl(&shared.join("gov_qa.jsonl")).iter().filter(|v| test_id(v)).filter_map(|v| field(v, "question")));
        texts.extend(jsonl(&shared.join("hotline_messages.jsonl")).iter().filter(|v| test_id(v)).filter_map(|v| field(v, "message")));
    } else {
        eprintln!("SKIPPED part: {} is missing, MSGABench test ids not checked", shared.display());
    }
    let mut out: Vec<String> = texts
        .iter()
        .map(|t| t.trim().trim_end_matches(['？', '?', '。', '！', '!', '~']).to_string())
        .filter(|t| t.chars().count() >= 6)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "data" {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_test_split_text_appears_in_the_code() {
    let texts = held_out();
    assert!(texts.len() >= 36, "the held-out sets were read ({} texts)", texts.len());
    let ac = AhoCorasick::new(&texts).unwrap();
    let mut files = Vec::new();
    rust_files(&workspace(), &mut files);
    assert!(files.len() > 50, "the workspace's sources were found ({})", files.len());
    let mut leaks = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        for m in ac.find_iter(&src) {
            leaks.push(format!("{}: {}", f.strip_prefix(workspace()).unwrap_or(f).display(), texts[m.pattern().as_usize()]));
        }
    }
    assert!(leaks.is_empty(), "test-split text in the code (write another example instead):\n{}", leaks.join("\n"));
}

/// The guard itself finds a planted copy (it would pass vacuously if it matched nothing).
#[test]
fn the_guard_finds_a_copy() {
    let texts = held_out();
    let ac = AhoCorasick::new(&texts).unwrap();
    let planted = format!("// {}\nfn x() {{}}", texts[texts.len() / 2]);
    assert_eq!(ac.find_iter(&planted).count(), 1);
}
