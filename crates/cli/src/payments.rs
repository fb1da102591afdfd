//! `serve` options for teleconsultation payments.

use careslot_scheduling::payments::{signature, AtPractice, Payments, Stripe, StripeConfig};
use careslot_vault::SecretToken;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    /// No online payment: fees are paid at the practice.
    Practice,
    /// Cards authorised at booking and captured after the consultation, through Stripe.
    Stripe,
}

#[derive(Args, Clone, Debug)]
pub struct PaymentArgs {
    /// How teleconsultation fees are paid.
    #[arg(
        long = "payments",
        env = "CARESLOT_PAYMENTS",
        value_enum,
        default_value = "practice"
    )]
    pub provider: Provider,
    /// Base URL of Stripe's API (a local stand-in in tests).
    #[arg(
        long,
        env = "CARESLOT_STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,
    /// File holding the Stripe secret key (`sk_live_…` / `sk_test_…`).
    #[arg(long, env = "CARESLOT_STRIPE_SECRET_KEY_FILE")]
    pub stripe_secret_key_file: Option<PathBuf>,
    /// File holding the signing secret of the webhook endpoint (`whsec_…`).
    #[arg(long, env = "CARESLOT_STRIPE_WEBHOOK_SECRET_FILE")]
    pub stripe_webhook_secret_file: Option<PathBuf>,
}

fn secret(path: Option<&Path>, flag: &str) -> anyhow::Result<SecretToken> {
    let path = path.ok_or_else(|| anyhow::anyhow!("--payments stripe needs {flag}"))?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{flag} {}: {e}", path.display()))?;
    SecretToken::new(text.trim()).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

impl PaymentArgs {
    pub fn payments(&self) -> anyhow::Result<Payments> {
        match self.provider {
            Provider::Practice => Ok(Payments::new(AtPractice)),
            Provider::Stripe => {
                let base = self.stripe_api_base.trim_end_matches('/').to_owned();
                if !(base.starts_with("https://")
                    || base.starts_with("http://127.0.0.1")
                    || base.starts_with("http://localhost"))
                {
                    anyhow::bail!("--stripe-api-base must be https (or a local http stand-in)");
                }
                let stripe = Stripe::new(StripeConfig {
                    api_base: base,
                    secret_key: secret(
                        self.stripe_secret_key_file.as_deref(),
                        "--stripe-secret-key-file",
                    )?,
                    webhook_secret: secret(
                        self.stripe_webhook_secret_file.as_deref(),
                        "--stripe-webhook-secret-file",
                    )?,
                    tolerance_s: signature::DEFAULT_TOLERANCE_S,
                })
                .map_err(|e| anyhow::anyhow!("stripe: {e}"))?;
                Ok(Payments::new(stripe))
            }
        }
    }
}
