//! The tinySSB pub (not implemented yet).
fn main() {
    eprintln!("spub-mio: the pub is not implemented yet; see README.md");
    std::process::exit(2);
}
