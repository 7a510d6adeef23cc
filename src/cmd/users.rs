//! `banshi users …`: staff accounts for the consoles (agents, editors, admins).

use anyhow::{bail, Context};
use banshi_server::auth::{check_password_strength, hash_password};
use banshi_server::store::{Audit, NewAudit, SqlStore, StaffRole, Users};

use crate::Common;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Add a user. The password is asked for on the terminal, or read from standard input
    /// with `--password-stdin` (never from a flag: flags end up in shell history).
    Add(AddArgs),
    /// List users.
    List,
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// Log-in name: 2–32 letters, digits, `.`, `_` or `-`.
    #[arg(long, env = "BANSHI_USER_NAME")]
    username: String,
    /// Name shown to citizens and colleagues, e.g. 张三.
    #[arg(long, env = "BANSHI_USER_DISPLAY_NAME")]
    display_name: String,
    /// `agent` (12345 queue), `editor` (knowledge), or `admin` (everything).
    #[arg(long, env = "BANSHI_USER_ROLE", value_parser = ["agent", "editor", "admin"])]
    role: String,
    /// Read the password from the first line of standard input.
    #[arg(long, env = "BANSHI_PASSWORD_STDIN")]
    password_stdin: bool,
}

pub async fn run(common: &Common, action: Action) -> anyhow::Result<()> {
    std::fs::create_dir_all(&common.data_dir).with_context(|| format!("creating {}", common.data_dir.display()))?;
    let pool = super::open_database(common).await?;
    let store = SqlStore::new(pool).await?;
    match action {
        Action::Add(a) => add(&store, a).await,
        Action::List => {
            for u in store.users().await? {
                println!(
                    "{:>4}  {:<16} {:<10} {:<6} {}",
                    u.id,
                    u.username,
                    u.display_name,
                    u.role.as_str(),
                    if u.active { "active" } else { "disabled" }
                );
            }
            Ok(())
        }
    }
}

async fn add(store: &SqlStore, a: AddArgs) -> anyhow::Result<()> {
    super::check_username(&a.username)?;
    if a.display_name.trim().is_empty() || a.display_name.chars().count() > 32 {
        bail!("display name must be 1–32 characters");
    }
    let password = super::read_new_password(a.password_stdin)?;
    check_password_strength(&password).map_err(|e| anyhow::anyhow!("weak password: {e}"))?;
    let role = StaffRole::parse(&a.role)?;
    let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let u = store.add_user(&a.username, a.display_name.trim(), role, &hash).await?;
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    let after = serde_json::json!({"username": u.username, "display_name": u.display_name, "role": u.role.as_str()});
    store
        .record(NewAudit {
            actor,
            action: "user.add".into(),
            entity: "user".into(),
            entity_id: u.username.clone(),
            before: None,
            after: Some(after),
        })
        .await?;
    println!("added {} ({}, {}) as user {}", u.username, u.display_name, u.role.as_str(), u.id);
    Ok(())
}
