fn main() -> std::process::ExitCode {
    slipway_common::cli::main("dockerfile-parse", dockerfile_parse::run)
}
