//! Importers: the project's own JSON format and the Guangdong catalogue ([`gd`]).
//!
//! Own format: a `.json` file holds one guide or an array of guides; a `.jsonl` file one guide
//! per line; a directory is read recursively in name order. A document whose code starts with
//! `BUNDLE-` is a 一件事 bundle, anything else an item guide. Every document is validated; a bad
//! one is reported with its file (and line) and the reason, and the others still load.

pub mod gd;

use std::path::{Path, PathBuf};

use crate::bundle::Bundle;
use crate::guide::Guide;
use crate::KnowledgeError;

/// One guide that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    pub file: PathBuf,
    /// 1-based line for `.jsonl` files.
    pub line: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// Guides and bundles loaded, and the documents that were not.
#[derive(Debug, Default)]
pub struct Loaded {
    pub guides: Vec<Guide>,
    pub bundles: Vec<Bundle>,
    pub problems: Vec<ImportProblem>,
}

/// One parsed document.
enum Doc {
    Guide(Box<Guide>),
    Bundle(Box<Bundle>),
}

fn parse_doc(v: serde_json::Value) -> Result<Doc, String> {
    let is_bundle = v.get("code").and_then(|c| c.as_str()).is_some_and(|c| c.starts_with("BUNDLE-"));
    if is_bundle {
        serde_json::from_value(v).map(|b| Doc::Bundle(Box::new(b))).map_err(|e| e.to_string())
    } else {
        serde_json::from_value(v).map(|g| Doc::Guide(Box::new(g))).map_err(|e| e.to_string())
    }
}

/// Load guides from a file or a directory in the project's own format.
pub fn load_path(path: &Path) -> Result<Loaded, KnowledgeError> {
    let mut loaded = Loaded::default();
    if !path.exists() {
        return Err(KnowledgeError::NotFound(format!("{} does not exist", path.display())));
    }
    for file in files(path)? {
        let text = std::fs::read_to_string(&file).map_err(|e| KnowledgeError::io(&file, e))?;
        let is_jsonl = file.extension().is_some_and(|e| e == "jsonl");
        parse_text(&text, is_jsonl, &file, &mut loaded);
    }
    let mut seen = std::collections::HashSet::new();
    let mut dup = Vec::new();
    loaded.guides.retain(|g| {
        seen.insert(g.code.clone()) || {
            dup.push(g.code.clone());
            false
        }
    });
    loaded.bundles.retain(|b| {
        seen.insert(b.code.clone()) || {
            dup.push(b.code.clone());
            false
        }
    });
    for code in dup {
        loaded.problems.push(ImportProblem { file: path.into(), line: None, reason: format!("code {code} appears more than once") });
    }
    Ok(loaded)
}

/// Parse one file's text (exposed for the API's JSON import).
pub fn parse_text(text: &str, is_jsonl: bool, file: &Path, out: &mut Loaded) {
    // `what` prefixes parse errors (“guide #2: …” inside an array).
    let mut accept = |value: Result<serde_json::Value, String>, line: Option<usize>, what: &str| {
        let (code, problems) = match value.and_then(|v| parse_doc(v).map_err(|e| format!("{what}{e}"))) {
            Ok(Doc::Guide(g)) => {
                let p = g.validate();
                let code = g.code.clone();
                if p.is_empty() {
                    out.guides.push(*g);
                }
                (code, p)
            }
            Ok(Doc::Bundle(b)) => {
                let p = b.validate();
                let code = b.code.clone();
                if p.is_empty() {
                    out.bundles.push(*b);
                }
                (code, p)
            }
            Err(reason) => return out.problems.push(ImportProblem { file: file.into(), line, reason }),
        };
        if !problems.is_empty() {
            out.problems.push(ImportProblem { file: file.into(), line, reason: format!("{code}: {}", problems.join("; ")) });
        }
    };
    if is_jsonl {
        for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            accept(serde_json::from_str(l).map_err(|e| e.to_string()), Some(i + 1), "");
        }
        return;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                accept(Ok(item), None, &format!("guide #{}: ", i + 1));
            }
        }
        Ok(v) => accept(Ok(v), None, ""),
        Err(e) => accept(Err(format!("not JSON: {e}")), None, ""),
    }
}

/// `.json` / `.jsonl` files under `path`, sorted.
fn files(path: &Path) -> Result<Vec<PathBuf>, KnowledgeError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| KnowledgeError::io(&dir, e))? {
            let p = entry.map_err(|e| KnowledgeError::io(&dir, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json" || e == "jsonl") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"code":"A-1","name":"甲","kind":"公共服务","department":"局","region":"示例市","source":{"kind":"sample"}}"#;

    #[test]
    fn loads_single_array_and_lines_and_reports_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), GOOD).unwrap();
        std::fs::write(dir.path().join("b.json"), format!("[{}, {{\"code\":\"B-1\"}}]", GOOD.replace("A-1", "A-2"))).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/c.jsonl"),
            format!("{}\n\n{{broken\n{}\n", GOOD.replace("A-1", "A-3"), GOOD.replace("\"甲\"", "\"\"").replace("A-1", "A-4")),
        )
        .unwrap();
        std::fs::write(dir.path().join("d.json"), GOOD).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let loaded = load_path(dir.path()).unwrap();
        let codes: Vec<_> = loaded.guides.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(codes, ["A-1", "A-2", "A-3"]);
        let reasons: Vec<String> = loaded.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("b.json") && r.contains("guide #2") && r.contains("missing field")));
        assert!(reasons.iter().any(|r| r.contains("c.jsonl:3")));
        assert!(reasons.iter().any(|r| r.contains("c.jsonl:4") && r.contains("事项名称不能为空")));
        assert!(reasons.iter().any(|r| r.contains("A-1 appears more than once")));
    }

    #[test]
    fn missing_path_is_a_clear_error() {
        let err = load_path(Path::new("/nonexistent/guides")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/guides"));
    }
}
