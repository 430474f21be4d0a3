//! Print the generated spelling variants (variant TAB source) for auditing.
fn main() {
    for (v, src) in rempart_signals::all_variants() {
        println!("{v}\t{src}");
    }
}
