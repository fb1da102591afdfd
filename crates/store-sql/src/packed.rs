//! Long reads as one row. sqlx runs each SQLite connection on a thread of its own and hands
//! every row to the caller through a channel; the caller drains the channel faster than
//! SQLite fills it, so it sleeps and is woken again for each row. A profile of the desk's
//! week grid (about two thousand rows: its appointments and their patients) put a quarter
//! of the page's CPU in those wake-ups, more than in SQLite itself. Such reads ask the
//! database to build one JSON array of the rows instead (blobs as hex), which crosses once.
//!
//! PostgreSQL streams rows over its socket in batches and does not need this; its
//! backend leaves [`crate::Backend::PACKED`] empty and reads row by row. The store suite
//! runs the same reads on both, so the two spellings answer the same.

use careslot_domain::{AccountId, PractitionerId};
use careslot_store::codec::{self, corrupt};
use careslot_store::{AccountRecord, ReservationRow, Role, StoreResult};
use serde::Deserialize;

/// The packed spelling of each read, with the same parameters as the row-by-row one
/// except for lists of ids, bound as one JSON array of strings.
pub struct PackedSql {
    /// `$1`: account ids (JSON array). One row, its column `packed`: an array of [`AccountJson`].
    pub accounts: &'static str,
    /// `$1` agenda, `$2`/`$3` start range: one row, its column `packed`: an array of
    /// [`ReservationJson`] in the order of the row-by-row read.
    pub agenda_appointments: &'static str,
}

/// An account as the packed read spells it: the columns of the row-by-row read, in its
/// order, blobs in hex.
#[derive(Deserialize)]
pub struct AccountJson(
    String,
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A reservation as the packed read spells it (see [`AccountJson`]).
#[derive(Deserialize)]
pub struct ReservationJson(
    String,
    String,
    i64,
    i64,
    String,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    [Option<i64>; 4],
);

fn blob(hex_text: &str) -> StoreResult<Vec<u8>> {
    const_hex::decode(hex_text).map_err(|_| corrupt("packed blob"))
}

fn blob_opt(hex_text: Option<String>) -> StoreResult<Option<Vec<u8>>> {
    hex_text.as_deref().map(blob).transpose()
}

/// The rows of a packed read of accounts.
pub fn accounts(json: &str) -> StoreResult<Vec<AccountRecord>> {
    let rows: Vec<AccountJson> =
        serde_json::from_str(json).map_err(|_| corrupt("packed accounts"))?;
    rows.into_iter()
        .map(
            |AccountJson(id, role, created_at, wrapped_key, email, name, phone, birth, managed)| {
                Ok(AccountRecord {
                    id: AccountId(id),
                    role: Role::parse(&role).ok_or_else(|| corrupt("role"))?,
                    created_at: codec::ts(created_at)?,
                    wrapped_key,
                    email_ct: blob(&email)?,
                    name_ct: blob(&name)?,
                    phone_ct: blob_opt(phone)?,
                    birth_date_ct: blob_opt(birth)?,
                    managed_by: managed.map(PractitionerId),
                })
            },
        )
        .collect()
}

/// The rows of a packed read of reservations.
pub fn reservations(json: &str) -> StoreResult<Vec<ReservationRow>> {
    let rows: Vec<ReservationJson> =
        serde_json::from_str(json).map_err(|_| corrupt("packed reservations"))?;
    rows.into_iter()
        .map(
            |ReservationJson(
                id,
                agenda,
                start,
                end,
                status,
                expires,
                motive,
                patient,
                note,
                relative,
                visit,
            )| {
                codec::reservation_row(
                    id,
                    agenda,
                    start,
                    end,
                    &status,
                    expires,
                    blob(&motive)?,
                    blob_opt(patient)?,
                    blob_opt(note)?,
                    blob_opt(relative)?,
                    visit,
                )
            },
        )
        .collect()
}
