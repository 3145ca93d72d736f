fn main() -> std::process::ExitCode {
    slipway_common::cli::main("layer-diff", layer_diff::run)
}
