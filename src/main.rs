fn main() {
    println!("greenloop demo: coming up");
}
