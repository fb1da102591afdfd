//! `careslot operator add|list|disable`: operator accounts made on the database directly, like the
//! other administration commands (the same as `POST /api/v1/operators` with the operator
//! token). `add` prints the account and its one-time set-password link as JSON on stdout
//! (the link is also queued as an invitation mail for the next `serve` to deliver).

use careslot_identity::operators::parse_roles;
use careslot_messages::Lang;
use careslot_server::services::App;
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Create an operator account; prints its one-time set-password link.
    Add(AddArgs),
    /// List the operator accounts (JSON lines: id, email, name, roles, disabled_at).
    List(ListArgs),
    /// Disable an operator account: its sessions and set-password link end at once and it
    /// can no longer sign in (the account and its action log stay).
    Disable(DisableArgs),
}

#[derive(Args)]
pub struct DisableArgs {
    #[command(flatten)]
    pub db: crate::DbArgs,
    #[command(flatten)]
    pub keys: crate::KeyArgs,
    /// The operator account's id or email address (as `operator list` prints them).
    pub account: String,
}

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub db: crate::DbArgs,
    #[command(flatten)]
    pub keys: crate::KeyArgs,
    /// The operator's email address (where the invitation goes; the sign-in name).
    #[arg(long)]
    pub email: String,
    /// The operator's name, as the console and the action log's readers see it.
    #[arg(long)]
    pub name: String,
    /// A role: campaign, verification or messages (repeat for several).
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// Language of the invitation mail (fr, en, de, it).
    #[arg(long, default_value = "fr")]
    pub lang: String,
    /// The address users reach the service at; the link starts with it.
    #[arg(long, env = "CARESLOT_PUBLIC_URL", value_parser = crate::parse_public_url)]
    pub public_url: Option<String>,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub db: crate::DbArgs,
    #[command(flatten)]
    pub keys: crate::KeyArgs,
}

pub async fn add(app: &App, args: &AddArgs) -> anyhow::Result<serde_json::Value> {
    let roles = parse_roles(&args.roles).map_err(|e| anyhow::anyhow!("--role {e}"))?;
    let lang = Lang::parse(&args.lang)
        .ok_or_else(|| anyhow::anyhow!("--lang must be fr, en, de or it"))?;
    let created = app
        .accounts
        .create_operator(&args.email, &args.name, &roles, lang, "cli")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    app.accounts
        .record_operator_action(
            "cli",
            "operators.create",
            Some(created.identity.id.as_str()),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(json!({
        "id": created.identity.id.to_string(),
        "email": created.identity.email,
        "name": created.identity.name,
        "roles": created.roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
        "set_password_link": created.link,
        "link_expires_at": created.expires_at.to_string(),
    }))
}

pub async fn list(app: &App) -> anyhow::Result<Vec<serde_json::Value>> {
    let list = app
        .accounts
        .operator_accounts()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(list
        .iter()
        .map(|v| {
            json!({
                "id": v.identity.id.to_string(),
                "email": v.identity.email,
                "name": v.identity.name,
                "roles": v.record.roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
                "created_by": v.record.created_by,
                "disabled_at": v.record.disabled_at.map(|t| t.to_string()),
            })
        })
        .collect())
}

/// Disables the operator account named by id or email; prints it as `list` does.
pub async fn disable(app: &App, args: &DisableArgs) -> anyhow::Result<serde_json::Value> {
    let wanted = args.account.trim();
    let accounts = app
        .accounts
        .operator_accounts()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(found) = accounts.iter().find(|v| {
        v.identity.id.as_str() == wanted || v.identity.email.eq_ignore_ascii_case(wanted)
    }) else {
        anyhow::bail!("no operator account {wanted:?} (see `careslot operator list`)");
    };
    let id = found.identity.id.to_string();
    app.accounts
        .disable_operator(&id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    app.accounts
        .record_operator_action("cli", "operators.disable", Some(id.as_str()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    list(app)
        .await?
        .into_iter()
        .find(|v| v["id"] == id.as_str())
        .ok_or_else(|| anyhow::anyhow!("operator account {id} vanished"))
}
