// Embedded migrations are read at compile time; without this a new migration folder is not seen.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
