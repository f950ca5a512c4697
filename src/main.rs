fn main() -> std::process::ExitCode {
    sandspawn::cli::main()
}
