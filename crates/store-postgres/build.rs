// `sqlx::migrate!` embeds the migrations when the crate compiles, and on stable Rust nothing
// tells cargo that a new file in `migrations/` changes the crate: this does.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
