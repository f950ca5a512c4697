fn main() -> std::process::ExitCode {
    // The helper stage runs inside the sandbox as this same binary (hidden
    // `__helper` argument, or argv[0] `sandspawn-linux-sandbox`): dispatch
    // before anything parses arguments or reads the environment.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = sandspawn_linux::dispatch(&args) {
        return code;
    }
    if args
        .get(1)
        .is_some_and(|a| a == sandspawn::mcp::wire::SPEC_ARG)
    {
        return sandspawn::cli::spec_exec();
    }
    sandspawn::cli::main()
}
