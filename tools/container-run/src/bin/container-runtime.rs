fn main() -> std::process::ExitCode {
    container_run::oci::main()
}
