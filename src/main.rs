fn main() -> std::process::ExitCode {
    scimap::cli::main()
}
