fn main() -> std::process::ExitCode {
    slipway_common::cli::main("image-pull", image_pull::run)
}
