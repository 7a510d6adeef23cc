//! Evaluation on real data no one on the project wrote (`../shared/data`), always beside a
//! simple baseline, reported as Markdown + JSON.
//!
//! - [`retrieval`]: gov_qa recall@k / MRR for sparse, dense and hybrid retrieval.
//! - [`calibrate`]: fitting the retrieval confidence on the dev split.
//! - [`answers`]: grounded answers (citations, faithfulness, overlap).
//! - [`out_of_kb`]: questions the KB does not cover: answered, refused or referred, or queued.
//! - [`appeal`]: appeal type / domain / anger classification on hotline messages;
//!   [`label_agreement`]: how often near-duplicate messages carry the same label.
//! - [`corpus`]: synthetic material documents (images, scanned and text PDFs) for pre-review.
//! - [`prereview`]: pre-review detection on planted defects, false rejections, OCR accuracy.
//! - [`injection`]: injection attempts through the dialogue engine and the stream contract.
//! - [`forms`]: the 一件事 bundles' fields, materials and visits against their separate items.

pub mod answers;
pub mod appeal;
pub mod calibrate;
pub mod catalogue;
pub mod corpus;
pub mod forms;
pub mod injection;
pub mod label_agreement;
pub mod out_of_kb;
pub mod prereview;
pub mod retrieval;

use std::io::{BufRead, IsTerminal};
use std::path::Path;

/// The data's dev/test split: rows whose id is divisible by 5 are test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Dev,
    Test,
    /// The dev rows whose id ends in 1: held out of training the bundled query encoder, so that
    /// what is fitted on top of it (fusion, calibration) sees questions it has not learnt.
    Holdout,
}

impl Split {
    pub fn contains(self, id: u64) -> bool {
        match self {
            Split::Dev => !id.is_multiple_of(5),
            Split::Test => id.is_multiple_of(5),
            Split::Holdout => id % 10 == 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Dev => "dev",
            Split::Test => "test",
            Split::Holdout => "holdout",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dev" => Ok(Split::Dev),
            "test" => Ok(Split::Test),
            "holdout" => Ok(Split::Holdout),
            _ => Err(format!("split must be dev, test or holdout, not {s:?}")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("dataset {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}")]
    Dataset(String),
    #[error(transparent)]
    Knowledge(#[from] banshi_knowledge::KnowledgeError),
    #[error(transparent)]
    Model(#[from] banshi_models::ModelError),
    #[error(transparent)]
    Assistant(#[from] banshi_assistant::AssistantError),
}

/// Levenshtein distance over characters (OCR character accuracy).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + usize::from(a[i - 1] != b[j - 1]));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Read a JSON-lines file into rows; a missing file or a bad line is a clear error.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, EvalError> {
    let file = std::fs::File::open(path).map_err(|e| EvalError::Io(path.display().to_string(), e))?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| EvalError::Io(path.display().to_string(), e))?;
        if line.trim().is_empty() {
            continue;
        }
        rows.push(serde_json::from_str(&line).map_err(|e| EvalError::Dataset(format!("{}:{}: {e}", path.display(), i + 1)))?);
    }
    Ok(rows)
}

/// The p-th percentile (nearest rank) of unsorted values; 0 when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// Progress of a long evaluation on stderr: an indicatif bar in a terminal; otherwise (a log
/// file, CI) a plain line at most every 10 s and at the end, which a bar cannot give.
pub fn progress(what: &str, done: usize, total: usize) {
    if std::io::stderr().is_terminal() {
        return progress_bar(what, done, total);
    }
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if done == total || last.is_none_or(|t| t.elapsed().as_secs() >= 10) {
        eprintln!("{what}: {done}/{total}");
        *last = Some(std::time::Instant::now());
    }
}

/// The bar of the current task, replaced when another task starts.
fn progress_bar(what: &str, done: usize, total: usize) {
    static BAR: std::sync::Mutex<Option<(String, indicatif::ProgressBar)>> = std::sync::Mutex::new(None);
    let mut bar = BAR.lock().unwrap_or_else(|e| e.into_inner());
    if bar.as_ref().is_none_or(|(w, b)| w != what || b.length() != Some(total as u64)) {
        let b = indicatif::ProgressBar::new(total as u64).with_message(what.to_string());
        let style =
            indicatif::ProgressStyle::with_template("{msg}: {pos}/{len} [{bar:30}] {elapsed} (eta {eta})").expect("a valid template");
        b.set_style(style.progress_chars("=> "));
        *bar = Some((what.to_string(), b));
    }
    if let Some((_, b)) = bar.as_ref() {
        b.set_position(done as u64);
        if done == total {
            b.finish();
        }
    }
}

/// Write `name.md` and `name.json` into `dir`; returns the Markdown.
pub fn write_report<T: serde::Serialize>(dir: &Path, name: &str, markdown: &str, json: &T) -> Result<(), EvalError> {
    std::fs::create_dir_all(dir).map_err(|e| EvalError::Io(dir.display().to_string(), e))?;
    let md = dir.join(format!("{name}.md"));
    std::fs::write(&md, markdown).map_err(|e| EvalError::Io(md.display().to_string(), e))?;
    let js = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(json).expect("reports serialise");
    std::fs::write(&js, text).map_err(|e| EvalError::Io(js.display().to_string(), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_the_data_readme() {
        assert!(Split::Test.contains(5) && Split::Test.contains(0));
        assert!(Split::Dev.contains(7) && !Split::Dev.contains(10));
        assert!(Split::Holdout.contains(21) && !Split::Holdout.contains(22) && !Split::Holdout.contains(20));
        assert!((0..100).filter(|&id| Split::Holdout.contains(id)).all(|id| Split::Dev.contains(id)));
        assert!("train".parse::<Split>().is_err());
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn missing_dataset_is_a_clear_error() {
        let err = read_jsonl::<serde_json::Value>(Path::new("/nonexistent/gov_qa.jsonl")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/gov_qa.jsonl"), "{err}");
    }
}
