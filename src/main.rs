fn main() {
    std::process::exit(cutter::run::main());
}
