//! `banshi citizens …`: citizen accounts for signing in on the chat page (their profiles
//! pre-fill forms) and the fictional sample citizens with their e-licences.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use banshi_assistant::forms::prefill::ELicence;
use banshi_assistant::forms::validate;
use banshi_server::auth::{check_password_strength, hash_password, new_token};
use banshi_server::routes::check_profile;
use banshi_server::store::{Applications, SqlStore, StoreError};
use serde::Deserialize;

use crate::Common;

/// The shipped sample citizens and e-licences (all fictional).
const SAMPLES: &str = include_str!("../../server/samples/citizens.json");

#[derive(clap::Subcommand)]
pub enum Action {
    /// Add a citizen account. The password is asked for on the terminal, or read from standard
    /// input with `--password-stdin`.
    Add(AddArgs),
    /// Load the fictional sample citizens and their e-licences (idempotent). Their password is
    /// `BANSHI_SAMPLE_PASSWORD` when set, otherwise a new random one, printed.
    Samples {
        /// Password for every sample account (at least 10 characters, three character classes).
        #[arg(long, env = "BANSHI_SAMPLE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// Sign-in name: 2–32 letters, digits, `.`, `_` or `-`.
    #[arg(long, env = "BANSHI_CITIZEN_NAME")]
    username: String,
    /// Real name, e.g. 张三.
    #[arg(long, env = "BANSHI_CITIZEN_DISPLAY_NAME")]
    display_name: String,
    /// Profile as JSON, e.g. '{"id_number":"…","phone":"…"}' (checked by the national rules).
    #[arg(long, env = "BANSHI_CITIZEN_PROFILE", default_value = "{}")]
    profile: String,
    /// Read the password from the first line of standard input.
    #[arg(long, env = "BANSHI_PASSWORD_STDIN")]
    password_stdin: bool,
}

#[derive(Deserialize)]
struct Samples {
    citizens: Vec<SampleCitizen>,
    elicences: Vec<SampleLicence>,
}

#[derive(Deserialize)]
struct SampleCitizen {
    username: String,
    display_name: String,
    profile: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct SampleLicence {
    #[serde(flatten)]
    licence: ELicence,
    #[serde(default)]
    related: Vec<String>,
}

pub async fn run(common: &Common, action: Action) -> anyhow::Result<()> {
    std::fs::create_dir_all(&common.data_dir).with_context(|| format!("creating {}", common.data_dir.display()))?;
    let pool = super::open_database(common).await?;
    let store = SqlStore::new(pool).await?;
    match action {
        Action::Add(a) => add(&store, a).await,
        Action::Samples { password } => samples(&store, password).await,
    }
}

async fn add(store: &SqlStore, a: AddArgs) -> anyhow::Result<()> {
    super::check_username(&a.username)?;
    if a.display_name.trim().is_empty() || a.display_name.chars().count() > 32 {
        bail!("display name must be 1–32 characters");
    }
    let raw: BTreeMap<String, String> = serde_json::from_str(&a.profile).context("--profile must be a JSON object of strings")?;
    let profile = check_profile(&raw).map_err(|e| anyhow::anyhow!("profile: {}", e.values().cloned().collect::<Vec<_>>().join("; ")))?;
    let password = super::read_new_password(a.password_stdin)?;
    check_password_strength(&password).map_err(|e| anyhow::anyhow!("weak password: {e}"))?;
    let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let c = store.add_citizen(&a.username, a.display_name.trim(), &hash, &profile).await?;
    println!("added citizen {} ({}) as {}", c.username, c.display_name, c.id);
    Ok(())
}

async fn samples(store: &SqlStore, password: Option<String>) -> anyhow::Result<()> {
    let s: Samples = serde_json::from_str(SAMPLES).context("the shipped sample file is malformed")?;
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (format!("Sample-{}", &new_token()[..10]), true),
    };
    check_password_strength(&password).map_err(|e| anyhow::anyhow!("BANSHI_SAMPLE_PASSWORD: {e}"))?;
    let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    for c in &s.citizens {
        let profile = check_profile(&c.profile).map_err(|e| anyhow::anyhow!("sample {}: {e:?}", c.username))?;
        match store.add_citizen(&c.username, &c.display_name, &hash, &profile).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => {
                let (existing, _) = store.citizen_credentials(&c.username).await?.context("a citizen vanished while loading")?;
                store.update_profile(existing.id, &profile).await?;
                store.set_citizen_password(&c.username, &hash).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    for l in &s.elicences {
        let holder = &l.licence.holder_id;
        if validate::id_card(holder).is_err() && validate::uscc(holder).is_err() {
            bail!("sample licence {}: holder {holder} is neither a valid ID number nor a credit code", l.licence.number);
        }
        store.put_licence(&l.licence, &l.related).await?;
    }
    let names: Vec<&str> = s.citizens.iter().map(|c| c.username.as_str()).collect();
    println!("sample citizens ready: {} ({} e-licences)", names.join(", "), s.elicences.len());
    if generated {
        println!("their password (set BANSHI_SAMPLE_PASSWORD to choose one): {password}");
    }
    Ok(())
}
