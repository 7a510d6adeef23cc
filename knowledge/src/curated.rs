//! Curated answers (经审核的标准答复): an editor writes or approves the answer to a question
//! pattern; a citizen question close enough to the pattern gets it first, marked as curated,
//! with its source. Matching is character-bigram Dice similarity over the normalised text, on an
//! in-memory copy of the active answers that every change refreshes.

use std::collections::HashSet;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

use crate::KnowledgeError;

/// Similarity a question needs to a pattern to get its curated answer.
pub const MATCH_THRESHOLD: f32 = 0.6;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Curated {
    pub id: i64,
    pub question: String,
    pub answer: String,
    pub item_code: Option<String>,
    /// Where it came from: `编辑撰写`, `坐席转知识（工单 12）`, `缺口（…）`.
    pub source: String,
    pub author: String,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// An active answer with the character bigrams of its question, for matching.
type Indexed = (Curated, HashSet<(char, char)>);

pub struct CuratedStore {
    pool: AnyPool,
    active: RwLock<Vec<Indexed>>,
}

fn normalise(s: &str) -> Vec<char> {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn bigrams(s: &str) -> HashSet<(char, char)> {
    let c = normalise(s);
    c.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Dice similarity of two bigram sets (0–1).
pub fn similarity(a: &HashSet<(char, char)>, b: &HashSet<(char, char)>) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    2.0 * a.intersection(b).count() as f32 / (a.len() + b.len()) as f32
}

fn row(r: &sqlx::any::AnyRow) -> Curated {
    Curated {
        id: r.get("id"),
        question: r.get("question"),
        answer: r.get("answer"),
        item_code: r.get("item_code"),
        source: r.get("source"),
        author: r.get("author"),
        active: r.get::<i64, _>("active") != 0,
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

impl CuratedStore {
    /// Open over `pool` (the knowledge crate's migrations have run) and load the active answers.
    pub async fn new(pool: AnyPool) -> Result<Self, KnowledgeError> {
        let s = CuratedStore { pool, active: RwLock::new(Vec::new()) };
        s.refresh().await?;
        Ok(s)
    }

    /// Reload the active answers (another replica added or retired one).
    pub async fn refresh(&self) -> Result<(), KnowledgeError> {
        let rows = sqlx::query("SELECT * FROM curated_answers WHERE active = 1 ORDER BY id").fetch_all(&self.pool).await?;
        let loaded = rows.iter().map(row).map(|c| {
            let b = bigrams(&c.question);
            (c, b)
        });
        *self.active.write().expect("curated lock") = loaded.collect();
        Ok(())
    }

    /// Add an answer; `NotAllowed` when the question or answer is empty.
    pub async fn add(
        &self,
        question: &str,
        answer: &str,
        item_code: Option<&str>,
        source: &str,
        author: &str,
    ) -> Result<Curated, KnowledgeError> {
        if normalise(question).len() < 2 || answer.trim().is_empty() {
            return Err(KnowledgeError::NotAllowed("问题和答案都不能为空".into()));
        }
        let now = chrono::Utc::now().to_rfc3339();
        let r = sqlx::query("INSERT INTO curated_answers (question, answer, item_code, source, author, active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7) RETURNING *")
            .bind(question.trim())
            .bind(answer.trim())
            .bind(item_code)
            .bind(source)
            .bind(author)
            .bind(&now)
            .bind(&now)
            .fetch_one(&self.pool)
            .await?;
        self.refresh().await?;
        Ok(row(&r))
    }

    /// Stop using an answer (kept for the record).
    pub async fn retire(&self, id: i64) -> Result<Curated, KnowledgeError> {
        let r = sqlx::query("UPDATE curated_answers SET active = 0, updated_at = $1 WHERE id = $2 RETURNING *")
            .bind(chrono::Utc::now().to_rfc3339())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| KnowledgeError::NotFound(format!("curated answer {id}")))?;
        self.refresh().await?;
        Ok(row(&r))
    }

    pub async fn list(&self) -> Result<Vec<Curated>, KnowledgeError> {
        Ok(sqlx::query("SELECT * FROM curated_answers ORDER BY id DESC").fetch_all(&self.pool).await?.iter().map(row).collect())
    }

    /// The active answer whose pattern is most like `question`, if similar enough.
    pub fn find(&self, question: &str) -> Option<(Curated, f32)> {
        let q = bigrams(question);
        let active = self.active.read().expect("curated lock");
        active
            .iter()
            .map(|(c, b)| (c, similarity(&q, b)))
            .filter(|(_, s)| *s >= MATCH_THRESHOLD)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(c, s)| (c.clone(), s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn similar_questions_get_the_curated_answer(db: crate::testing::TestDb) {
        let pool = db.pool().await;
        crate::store::GuideStore::new(pool.clone()).await.unwrap(); // runs the migrations
        let s = CuratedStore::new(pool).await.unwrap();
        let c = s.add("社保卡丢了怎么补办？", "携带身份证到任一合作银行网点挂失补办。", None, "编辑撰写", "user:wang").await.unwrap();
        assert_eq!(s.find("社保卡丢了怎么补办").map(|(c, _)| c.id), Some(c.id));
        assert!(s.find("社保卡丢了要怎么补办呢？").is_some(), "a close paraphrase matches");
        assert!(s.find("身份证过期了怎么换").is_none());
        s.retire(c.id).await.unwrap();
        assert!(s.find("社保卡丢了怎么补办").is_none(), "retired answers are not given");
        assert!(s.add(" ", "x", None, "编辑撰写", "a").await.is_err());
    }

    crate::both_backends!(similar_questions_get_the_curated_answer);
}
