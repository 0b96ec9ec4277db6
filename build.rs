// A new migration folder must re-embed the migration sets (diesel's embed_migrations! does not track it).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
